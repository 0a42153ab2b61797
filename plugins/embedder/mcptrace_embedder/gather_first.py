"""Keep the int8 embedding tables int8 in memory: gather the rows a query needs, then dequantize them.

The int8 model stores each table as ``Gather(Mul(Cast(table_int8), row_scale), ids)``. onnxruntime
folds ``Mul(Cast(...))`` into a float32 copy of the whole table when it loads the model: the word
embeddings alone grow from 11 MB to 47 MB, and the server carries them for its lifetime. Gathering the
int8 rows and their scales first, ``Mul(Cast(Gather(table_int8, ids)), Gather(row_scale, ids))``, computes
each element exactly as before (the same int8 value times the same scale), so vectors stay bit-identical
and the shipped vectors stay valid, while the session holds only the int8 table (measured: the model's
resident memory falls from 98 MB to 64 MB; a query costs the same).

The rewrite reads and writes the model with protobuf, which onnxruntime already depends on, through a
schema of the few ONNX fields it touches; every other field (the weights, the rest of the graph) passes
through untouched as protobuf's unknown fields. The ``onnx`` package would do the same but is a 16 MB
dependency that takes ~1 s to import, on the path of the first search.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_FLOAT = 1
"""ONNX TensorProto.DataType FLOAT: the target type of the dequantizing Cast."""


def rewrite(model: bytes) -> bytes:
    """The model with every embedding table gathered before it is dequantized; unchanged if none is.

    A table is rewritten only when it has exactly the folded shape above and its float copy feeds
    nothing but that one Gather, so a model of another layout is returned as it came.
    """
    model_class, node_class = _classes()
    parsed = model_class.FromString(model)
    nodes = list(parsed.graph.node)
    producer = {output: node for node in nodes for output in node.output}
    uses = Counter(name for node in nodes for name in node.input)
    replaced: dict[int, list[Any]] = {}
    folded: set[int] = set()
    for node in nodes:
        dequantized = _dequantized_table(node, producer, uses)
        if dequantized is None:
            continue
        cast, mul = dequantized
        replaced[id(node)] = _gather_then_dequantize(node, cast, mul, node_class)
        folded |= {id(cast), id(mul)}
    if not replaced:
        return model
    rebuilt = []
    for node in nodes:
        if id(node) in folded:
            continue
        rebuilt.extend(replaced.get(id(node), [node]))
    del parsed.graph.node[:]
    parsed.graph.node.extend(rebuilt)
    return parsed.SerializeToString()


def _dequantized_table(gather: Any, producer: dict[str, Any], uses: Counter[str]) -> tuple[Any, Any] | None:
    """The (Cast, Mul) pair that dequantizes the table this Gather reads, if it has that shape."""
    if gather.op_type != "Gather" or gather.domain not in ("", "ai.onnx") or len(gather.input) != 2:
        return None
    mul = producer.get(gather.input[0])
    if mul is None or mul.op_type != "Mul" or len(mul.input) != 2 or uses[gather.input[0]] != 1:
        return None
    cast = producer.get(mul.input[0])
    if cast is None or cast.op_type != "Cast" or uses[mul.input[0]] != 1 or len(cast.input) != 1:
        return None
    if mul.input[1] in producer:  # the scale must be a stored constant, not computed per query
        return None
    return cast, mul


def _gather_then_dequantize(gather: Any, cast: Any, mul: Any, node_class: Any) -> list[Any]:
    """Four nodes computing ``gather``'s output from the int8 rows and their scales."""
    table, ids = cast.input[0], gather.input[1]
    out = gather.output[0]
    rows, scales, widened = f"{out}/int8_rows", f"{out}/row_scales", f"{out}/float_rows"
    axis = [attribute for attribute in gather.attribute if attribute.name == "axis"]

    def node(op_type: str, inputs: list[str], output: str, suffix: str) -> Any:
        made = node_class(op_type=op_type, name=f"{gather.name}/{suffix}", input=inputs, output=[output])
        made.attribute.extend(axis if op_type == "Gather" else [])
        return made

    widen = node("Cast", [rows], widened, "widen")
    widen.attribute.add(name="to", type=2, i=_FLOAT)  # AttributeProto.INT
    return [
        node("Gather", [table, ids], rows, "int8_rows"),
        node("Gather", [mul.input[1], ids], scales, "row_scales"),
        widen,
        node("Mul", [widened, scales], out, "dequantize"),
    ]


@functools.cache
def _classes() -> tuple[Any, Any]:
    """Message classes for ModelProto and NodeProto with only the fields the rewrite reads or writes.

    Field numbers are those of onnx.proto (ModelProto.graph = 7; GraphProto.node = 1; NodeProto
    input/output/name/op_type/attribute/domain = 1/2/3/4/5/7; AttributeProto name/i/type = 1/3/20).
    """
    Field = descriptor_pb2.FieldDescriptorProto
    schema = descriptor_pb2.FileDescriptorProto(name="mcptrace_onnx_subset.proto", package="mcptrace_onnx_subset")

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        described = schema.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = described.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name

    optional, repeated = Field.LABEL_OPTIONAL, Field.LABEL_REPEATED
    text, integer, enum_like, nested = Field.TYPE_STRING, Field.TYPE_INT64, Field.TYPE_INT32, Field.TYPE_MESSAGE
    message(
        "AttributeProto",
        ("name", 1, text, optional, ""),
        ("i", 3, integer, optional, ""),
        ("type", 20, enum_like, optional, ""),
    )
    message(
        "NodeProto",
        ("input", 1, text, repeated, ""),
        ("output", 2, text, repeated, ""),
        ("name", 3, text, optional, ""),
        ("op_type", 4, text, optional, ""),
        ("attribute", 5, nested, repeated, ".mcptrace_onnx_subset.AttributeProto"),
        ("domain", 7, text, optional, ""),
    )
    message("GraphProto", ("node", 1, nested, repeated, ".mcptrace_onnx_subset.NodeProto"))
    message("ModelProto", ("graph", 7, nested, optional, ".mcptrace_onnx_subset.GraphProto"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(schema)
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName("mcptrace_onnx_subset.ModelProto")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName("mcptrace_onnx_subset.NodeProto")),
    )
