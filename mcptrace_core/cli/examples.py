"""`mcptrace examples`: list, show, check, import and export example packs."""

from __future__ import annotations

from pathlib import Path

import click

from mcptrace_core.cli.common import CliState, emit, fail, json_option
from mcptrace_core.interfaces import ExamplePack
from mcptrace_core.models import Example
from mcptrace_core.packs.gpttrace import read_entries, to_examples, to_gpttrace
from mcptrace_core.packs.loader import PackMetadata, check_pack
from mcptrace_core.packs.user import user_packs_dir
from mcptrace_core.packs.writer import PackExistsError, write_pack
from mcptrace_core.plugins import build_plugin_manager
from mcptrace_core.registry import build_registry

SUMMARY_FIELDS = ("id", "pack", "title", "category", "requires", "output", "source")


def installed_packs(state: CliState, pack: str | None, as_json: bool) -> list[ExamplePack]:
    """The packs contributed by the loaded plugins, or only ``pack``; fails naming the known packs."""
    settings = state.settings()
    packs = build_registry(build_plugin_manager(settings.plugins.disable), settings).example_packs
    if pack is None:
        return packs
    chosen = [candidate for candidate in packs if candidate.name == pack]
    if not chosen:
        fail(
            f"no example pack named {pack!r}; installed packs: {', '.join(p.name for p in packs) or 'none'}",
            as_json,
        )
        return []
    return chosen


pack_option = click.option("--pack", default=None, help="Only this pack (see `mcptrace examples list`).")


@click.group()
def examples() -> None:
    """Example programs: list and show them, check a pack, import GPTtrace examples, export.

    Examples come from packs: the core pack, the bpftrace tools installed on this host, packs
    installed with pip, and user packs in the user data directory (written by `examples import`).

    \b
    Example:
      mcptrace examples list --pack core --category network
    """


@examples.command("list")
@pack_option
@click.option("--category", default=None, help="Only examples of this category, e.g. network.")
@json_option
@click.pass_obj
def list_examples(state: CliState, pack: str | None, category: str | None, as_json: bool) -> None:
    """List the examples of every installed pack (or one pack).

    \b
    Examples:
      mcptrace examples list --pack core --category scheduler
      mcptrace examples list --json
    """
    chosen = [
        example
        for candidate in installed_packs(state, pack, as_json)
        for example in candidate.examples()
        if category is None or example.category == category
    ]
    lines = [f"{example.pack}:{example.id:<40} {example.title}" for example in chosen]
    lines.append(f"{len(chosen)} examples")
    emit(
        {
            "examples": [example.model_dump(include=set(SUMMARY_FIELDS)) for example in chosen],
            "total": len(chosen),
        },
        "\n".join(lines),
        as_json,
    )


@examples.command()
@click.argument("example_id")
@pack_option
@json_option
@click.pass_obj
def show(state: CliState, example_id: str, pack: str | None, as_json: bool) -> None:
    """Show one example in full: description, requirements, probes and program.

    \b
    Example:
      mcptrace examples show sched.runqueue-latency
    """
    found = [
        example
        for candidate in installed_packs(state, pack, as_json)
        for example in candidate.examples()
        if example.id == example_id
    ]
    if not found:
        where = f" in pack {pack!r}" if pack else ""
        fail(f"no example {example_id!r}{where}; `mcptrace examples list` shows them", as_json)
        return
    if len(found) > 1:
        fail(
            f"{example_id!r} is in packs {', '.join(e.pack for e in found)}: choose one with --pack", as_json
        )
        return
    emit(found[0].model_dump(), _example_text(found[0]), as_json)


def _example_text(example: Example) -> str:
    return "\n".join(
        [
            f"{example.title}",
            f"id {example.id} | pack {example.pack} | category {example.category} | output {example.output}",
            f"requires: {', '.join(example.requires) or 'nothing special'} | source: {example.source}",
            "",
            example.description,
            "",
            "probes: " + ", ".join(example.probes),
            "",
            example.program.rstrip(),
        ]
    )


@examples.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@json_option
@click.pass_obj
def check(state: CliState, directory: Path, as_json: bool) -> None:
    """Check a pack directory (pack.toml + examples/**/*.toml): every problem with its file and field.

    Exits with status 1 when there is any problem. It checks the format, not whether programs run.

    \b
    Example:
      mcptrace examples check ./my_pack/my_pack
    """
    metadata, loaded = check_pack(directory)
    count, problems = len(loaded.examples), loaded.problems
    lines = problems + [f"{count} examples valid, {len(problems)} problems"]
    emit(
        {"pack": metadata.name if metadata else None, "valid_examples": count, "problems": problems},
        "\n".join(lines),
        as_json,
    )
    if problems:
        raise SystemExit(1)


@examples.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--pack", "pack_name", default="gpttrace", show_default=True, help="Name of the user pack to write."
)
@click.option("--replace", is_flag=True, help="Overwrite the user pack if it exists.")
@json_option
@click.pass_obj
def import_examples(state: CliState, source: Path, pack_name: str, replace: bool, as_json: bool) -> None:
    """Import GPTtrace's examples.json into a user pack, searchable like every other pack.

    Each entry's request becomes the title, its fenced program the program; probes, requirements
    and output kind are read from the program. Entries that cannot be read are listed by index.

    \b
    Example:
      mcptrace examples import GPTtrace/tools/examples.json --pack gpttrace
    """

    target = user_packs_dir() / pack_name
    try:
        metadata = PackMetadata(
            name=pack_name, description=f"Examples imported from {source.name} (GPTtrace format)."
        )
    except ValueError:
        fail(
            f"--pack {pack_name!r}: use lower-case letters, digits, '-' and '_' (at most 41 characters)",
            as_json,
        )
        return
    taken = {pack.name for pack in installed_packs(state, None, as_json)}
    if pack_name in taken and not (target / "pack.toml").is_file():
        fail(f"--pack {pack_name!r} is the name of an installed pack; choose another name", as_json)
        return
    try:
        entries, problems = read_entries(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        fail(f"{source}: {error}", as_json)
        return
    imported, invalid = to_examples(entries, pack_name, source.name)
    problems += invalid
    try:
        written = write_pack(target, metadata, imported, replace=replace)
    except (PackExistsError, OSError, ValueError) as error:
        fail(str(error), as_json)
        return
    lines = [f"imported {written} examples into {target}"] + [f"skipped {problem}" for problem in problems]
    emit(
        {"pack": pack_name, "directory": str(target), "imported": written, "skipped": problems},
        "\n".join(lines),
        as_json,
    )


@examples.command("export")
@pack_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["gpttrace", "toml"]),
    default="gpttrace",
    show_default=True,
    help="gpttrace: one examples.json document; toml: a pack directory.",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="File (gpttrace; default stdout) or directory (toml, required) to write.",
)
@click.pass_obj
def export_examples(state: CliState, pack: str | None, output_format: str, output: Path | None) -> None:
    """Export examples as GPTtrace's examples.json, or as a pack directory to start a new pack from.

    \b
    Examples:
      mcptrace examples export --pack core > examples.json
      mcptrace examples export --pack core --format toml --output ./my_pack
    """

    packs = installed_packs(state, pack, False)
    chosen = [example for candidate in packs for example in candidate.examples()]
    if output_format == "gpttrace":
        document = to_gpttrace(chosen)
        if output is None:
            click.echo(document, nl=False)
        else:
            output.write_text(document, encoding="utf-8")
            click.echo(f"wrote {len(chosen)} examples to {output}", err=True)
        return
    if output is None:
        fail("--format toml writes a pack directory: give it with --output DIR", False)
        return
    name = packs[0].name if len(packs) == 1 else "exported"
    metadata = PackMetadata(
        name=name, description=f"Examples exported from the {', '.join(p.name for p in packs)} pack(s)."
    )
    try:
        written = write_pack(output, metadata, chosen)
    except (PackExistsError, OSError, ValueError) as error:
        fail(str(error), False)
        return
    click.echo(f"wrote {written} examples to {output}", err=True)
