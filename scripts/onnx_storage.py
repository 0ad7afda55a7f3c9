"""Store an ONNX model's float32 weights as float16, cast back to float32 inside the graph.

onnxruntime folds the casts when it opens the session, so every multiply still runs in
float32 and the outputs do not depend on which inputs share a batch (unlike dynamic int8,
which quantises activations with one scale per batch); the file is half the float32 size.
Shared by scripts/export_embedder.py and scripts/train_nli.py.
"""

from __future__ import annotations

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
