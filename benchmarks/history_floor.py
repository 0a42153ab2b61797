"""Where the cosine floor of search_history by meaning (history.search.MIN_SIMILARITY) should sit for the
embedder search uses (search.embedder: onnx-minilm by default).

Every example of the installed packs stands for a past run: its text is embedded exactly as the history
embeds a run (records.embed_text: label, program). The development questions (shared/eval/dev_queries.json)
are the queries; a run is relevant to a question by the set's own matching rule (search_eval.relevant).
Off-topic questions (written here, about nothing a tracer records) show what an unrelated query scores.

For each candidate floor it prints: how many questions keep at least one relevant run above it, the share
of relevant (question, run) pairs kept, the irrelevant runs above it per question, and how many off-topic
questions still find something.

    python benchmarks/history_floor.py [--queries FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from search_eval import default_queries, relevant

from mcptrace_core.config import load_settings
from mcptrace_core.history.records import embed_text
from mcptrace_core.history.search import MIN_SIMILARITY
from mcptrace_core.runs.models import program_label
from mcptrace_core.services import Services

FLOORS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4)
OFF_TOPIC = (
    # Nothing to do with computers.
    "bake a loaf of sourdough bread",
    "who won the football match last night",
    "translate good morning into french",
    "stock market prices today",
    "write a poem about the sea",
    "how tall is mount everest",
    "best pizza restaurant near me",
    "guitar chords for beginners",
    "weather forecast for tomorrow in paris",
    "movie recommendations for tonight",
    "how to knit a scarf",
    "capital city of australia",
    "train my dog to sit",
    "cheap flights to lisbon in may",
    "symptoms of the common cold",
    "history of the roman empire",
    "how many calories in an apple",
    "plan a birthday party for kids",
    "repair a flat bicycle tyre",
    "learn spanish vocabulary fast",
    # Computers, but nothing a kernel tracer records.
    "center a div with css",
    "fix a git merge conflict",
    "install python on windows",
    "write a sql join between two tables",
    "convert a spreadsheet to pdf",
    "reset my email password",
    "design a logo in photoshop",
    "sort a list in javascript",
    "set up a wordpress blog",
    "keyboard shortcuts for copy and paste",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=default_queries())
    options = parser.parse_args()
    if options.queries is None:
        sys.exit("no dev_queries.json found; pass --queries")
    cases = json.loads(options.queries.read_text())["cases"]

    services = Services.create(load_settings(Path("/nonexistent.toml"), {"history": {"enabled": False}}))
    embedder, off = services.embedder()
    if embedder is None:
        sys.exit(off)
    examples = [example for pack in services.registry.example_packs for example in pack.examples()]
    texts = [embed_text(example.program, program_label(example.program), None, None) for example in examples]
    runs = np.asarray(embedder.embed(texts), dtype=np.float32)
    questions = np.asarray(embedder.embed([case["q"] for case in cases]), dtype=np.float32)
    off_topic = np.asarray(embedder.embed(list(OFF_TOPIC)), dtype=np.float32)
    similarity = questions @ runs.T
    unrelated_best = (off_topic @ runs.T).max(axis=1)

    relevance = np.asarray([[relevant(example, case["p"]) for example in examples] for case in cases])
    answerable = relevance.any(axis=1)
    best_relevant = np.where(relevance, similarity, -1.0).max(axis=1)[answerable]
    relevant_pairs = similarity[relevance]
    irrelevant_pairs = similarity[~relevance]

    print(f"{embedder.name} ({embedder.model_id}); {len(examples)} example runs, {answerable.sum()} answerable "
          f"questions of {len(cases)}, {len(OFF_TOPIC)} off-topic questions; current floor {MIN_SIMILARITY}")
    quantiles = lambda values: ", ".join(f"p{q} {np.percentile(values, q):.2f}" for q in (5, 25, 50, 75, 95))
    print(f"best relevant run per question: {quantiles(best_relevant)} (min {best_relevant.min():.2f})")
    print(f"every relevant pair:            {quantiles(relevant_pairs)}")
    print(f"every irrelevant pair:          {quantiles(irrelevant_pairs)}")
    print(f"best run of an off-topic query: {quantiles(unrelated_best)} (max {unrelated_best.max():.2f})")
    print("floor  questions-with-a-relevant-run  relevant-pairs-kept  irrelevant-runs/question  off-topic-with-hits")
    for floor in FLOORS:
        kept_questions = int((best_relevant >= floor).sum())
        kept_pairs = float((relevant_pairs >= floor).mean())
        noise = statistics.mean(int((row[~rel] >= floor).sum()) for row, rel in zip(similarity, relevance, strict=True))
        off = int((unrelated_best >= floor).sum())
        print(f"{floor:5.2f}  {kept_questions:>4}/{answerable.sum():<26} {kept_pairs:>18.0%}  {noise:>24.1f}  "
              f"{off:>10}/{len(OFF_TOPIC)}")


if __name__ == "__main__":
    main()
