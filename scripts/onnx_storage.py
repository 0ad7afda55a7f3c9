"""How an exported ONNX model's weights are stored: float16, or int8 quantised from that file.

`store_fp16`: the float32 weights as float16, cast back to float32 inside the graph.
onnxruntime folds the casts when it opens the session, so every multiply still runs in
float32 and the outputs do not depend on which inputs share a batch; the file is half the
float32 size. Shared by scripts/export_embedder.py and scripts/train_nli.py.

`store_int8`: onnxruntime's dynamic int8 quantisation of a float16-stored file, one weight
scale per output channel (activations are scaled per run, so bot/nli.py runs one pair at a
time). It starts from the float16 file so that a judge trained with `--storage fp16` can be
converted later to exactly the bytes `train_nli.py --storage int8` writes:

    .venv/bin/python scripts/onnx_storage.py int8 bot/models/nli/model.onnx OUT.onnx
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SMALL = 1024  # tensors below this many values (shapes, LayerNorm eps...) stay as they are


def store_fp16(source: Path, target: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    casts, kept = [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if init.data_type != TensorProto.FLOAT or array.size < SMALL:
            kept.append(init)
            continue
        half = numpy_helper.from_array(array.astype(np.float16), init.name + "_fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name],
                                      to=TensorProto.FLOAT, name=init.name + "_cast"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def store_int8(source: Path, target: Path) -> None:
    import onnx
    from onnx import TensorProto, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    graph = model.graph
    # Fold store_fp16's casts back into float32 weights: the quantiser only reads weights
    # that are initializers of the node using them.
    halves = {init.name: init for init in graph.initializer
              if init.data_type == TensorProto.FLOAT16}
    kept, folded = [], []
    for node in graph.node:
        if node.op_type == "Cast" and node.input[0] in halves:
            half = halves[node.input[0]]
            array = numpy_helper.to_array(half).astype(np.float32)
            graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
            folded.append(half)
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    for half in folded:
        graph.initializer.remove(half)
    # Per channel: one scale per output column of each weight matrix. One scale per matrix
    # (the int8 judge shipped until 2026-12-02) moved the judge's probabilities three times
    # as far from the float model's (mean .03 against .01 on the fitting part's pairs,
    # docs/scoring.md).
    quantize_dynamic(model, str(target), weight_type=QuantType.QInt8, per_channel=True)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "int8":
        raise SystemExit("usage: onnx_storage.py int8 SOURCE.onnx TARGET.onnx")
    store_int8(Path(sys.argv[2]), Path(sys.argv[3]))
