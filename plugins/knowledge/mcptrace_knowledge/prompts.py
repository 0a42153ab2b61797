"""The "trace" prompt: how an assistant goes from a question to an answer with mcptrace's tools."""

from __future__ import annotations

from mcptrace_core.resources import PromptArgument, PromptMessage, PromptSpec

STEPS = """You are investigating this on a live Linux host with mcptrace's tools:

GOAL: {goal}
{target}
Work through these steps, and say what you found at each one.

1. Know the host. Call bpf_info (or read mcptrace://host/capabilities): which probe types really work
   here. Many hosts have tracepoints and uprobes but no kprobes; hardware events are often missing in VMs.

2. Look for a ready answer. Call search_examples with the goal (runnable_only=true). If an example or a
   template (list_templates, generate_from_template) fits, start from it rather than writing from scratch.

3. Find the probes. Call discover_probes with the goal. Prefer results with usable_here=true and
   tracepoints over kprobes; take the suggested combinations (enter+exit for latency, wakeup+switch for
   scheduling delay, issue+complete for I/O). Read mcptrace://probes/{{name}} for a probe's fields on this host.

4. Write the smallest program that answers the goal:
   - filter early with a predicate (/pid == N/ or /comm == "name"/) on hot probes;
   - aggregate in maps (count(), sum(), hist(), lhist()) instead of printf on every event;
   - carry values between probes in maps keyed by tid, and delete them when used;
   - end it with a timeout (or interval:s:N {{ exit(); }}) so it cannot run forever.

5. Validate before running. Call validate_program with the program. Fix every error it reports: each has a
   category, a line and a hint (mcptrace://guide/troubleshooting explains each category). If the verdict
   is "confirm", tell the user why before going on; if it is "block", change the program.

6. Run it. Call exec_program with a short timeout_s (10-30 s is usually enough) and wait=true, or without
   wait and then poll. If a probe fails to attach, go back to step 3 for its alternative.

7. Read the result. Call get_result with the execution_id (page with offset and limit if has_more), then
   stop_execution if it is still running and you have enough.

8. Analyze. Call analyze_output with the execution_id for percentiles, top entries and anomalies rather
   than eyeballing histograms.

9. Answer the goal in plain words with the numbers that support it, say what the trace could not see,
   and suggest the next trace if the answer is incomplete.

Never run programs that call system(), signal() or override() unless the user asked for that action.
"""


def render_trace(arguments: dict[str, str]) -> list[PromptMessage]:
    target = arguments.get("target", "").strip()
    target_line = f"TARGET: {target} (filter on it)\n" if target else ""
    return [PromptMessage(role="user", text=STEPS.format(goal=arguments["goal"].strip(), target=target_line))]


def prompt_specs() -> list[PromptSpec]:
    return [
        PromptSpec(
            name="trace",
            title="Trace a question on this host",
            description="Walk through an investigation with mcptrace: check the host, search examples, discover "
            "probes, validate, run, read and analyze the result, then answer.",
            arguments=(
                PromptArgument(
                    "goal", "What you want to find out, e.g. 'why is disk I/O slow on this host'."
                ),
                PromptArgument("target", "A process name or pid to focus on (optional).", required=False),
            ),
            render=render_trace,
        )
    ]
