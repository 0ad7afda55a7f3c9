"""The entailment model: does an answer make a key point, contradict it, or neither?

A MiniLM cross-encoder fine-tuned by scripts/train_nli.py and shipped in bot/models/nli/ as
an ONNX file (dynamic int8, one weight scale per output channel) with its tokenizer. It
runs on onnxruntime and the `tokenizers` package, so judging never imports torch; both are
imported on first use, never by `import bot`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).resolve().parent / "models" / "nli"
LABELS = ("contradiction", "entailment", "neutral")
MAX_LENGTH = 160  # answer + key point, in tokens; longer answers are judged in windows
# Pairs per forward pass. One: on a CPU a batch only adds padding (measured on 507 pairs of
# the dev set's fitting part on 2 cores: 11.7 s one at a time, 20.9 s in batches of 32), and its
# activations (470 MB for 32 long pairs, 27 MB for one). And dynamic int8 scales a run's
# activations by what is in the run: one pair per run keeps a pair's probabilities its own,
# where a batch made them depend on the pairs beside it and tied the thresholds to a batch
# size (the int8 judge shipped until 2026-12-02, docs/scoring.md).
BATCH = 1


class EntailmentModel:
    """(premise, hypothesis) pairs -> probabilities in LABELS order, one row per pair."""

    def __init__(self, model_dir: str | Path = MODEL_DIR, threads: int = 1):
        self.model_dir = Path(model_dir)
        # Runs of one call that may go at once, each on one core. Side by side, not inside
        # one run: on 2 cores, six pairs of a 60-word answer took 48 ms one after another,
        # 38 ms with two threads inside each run and 24 ms as two runs at a time
        # (docs/scoring.md, "Latency"). A pair's probabilities are the same either way.
        self.threads = max(1, threads)
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None
        self._pool: ThreadPoolExecutor | None = None

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime
            from tokenizers import Tokenizer

            options = onnxruntime.SessionOptions()
            # One core per run: a run is one short pair, too small to split well, and the
            # serving process runs several graders side by side.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            # Without this, onnxruntime's arena keeps the largest batch's activations of
            # every thread that ever judged at once: measured at 900 MB in the served
            # process after a handful of answers (docs/serving.md). malloc gives them back.
            options.enable_cpu_mem_arena = False
            self._session = onnxruntime.InferenceSession(
                str(self.model_dir / "model.onnx"), options,
                providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
            tokenizer.enable_truncation(MAX_LENGTH, strategy="only_first")
            tokenizer.enable_padding()
            self._tokenizer = tokenizer
            if self.threads > 1:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="mlsprep-judge")

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def predict(self, pairs: Sequence[tuple[str, str]], batch: int = BATCH) -> np.ndarray:
        if not pairs:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        self.load()
        chunks = [list(pairs[start:start + batch]) for start in range(0, len(pairs), batch)]
        if self._pool is None or len(chunks) == 1:
            rows = [self._run(chunk) for chunk in chunks]
        else:
            rows = list(self._pool.map(self._run, chunks))
        logits = np.concatenate(rows).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    def _run(self, chunk: list[tuple[str, str]]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(chunk)
        feed = {
            "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
        }
        (logits,) = self._session.run(["logits"], feed)
        return logits
