"""The model adapter: offline loading, lazy import, normalised vectors and the disk cache."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bot.embeddings import BUNDLED_MODEL, Embedder, cache_path_for

ROOT = Path(__file__).resolve().parents[1]

OFFLINE_CHECK = r"""
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
import bot, bot.core.scoring, bot.core.choice, bot.core.markup, bot.cli.evaluate, bot.embeddings
print("lazy", "sentence_transformers" not in sys.modules and "torch" not in sys.modules)
from bot.embeddings import Embedder
e = Embedder()
v = e.encode(["offline works"])
print("encoded", v.shape[1])
"""


def test_scoring_imports_no_model_and_the_model_loads_with_the_network_refused():
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "HF_HUB_OFFLINE": "",
           "TRANSFORMERS_OFFLINE": ""}
    result = subprocess.run([sys.executable, "-c", OFFLINE_CHECK], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "lazy True" in result.stdout
    assert "encoded 384" in result.stdout


def test_vectors_are_l2_normalised_float32_rows(embedder):
    vectors = embedder.encode(["encrypt the bucket", "enable versioning", "x"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_tokens_are_counted_with_the_model_tokenizer(embedder):
    assert embedder.count_tokens("the cat sat on the mat") == 6
    assert embedder.count_tokens("encrypt the bucket") > 3  # word pieces, not words
    assert embedder.load().max_seq_length == 256
    assert embedder.ready


def test_cache_path_sits_beside_the_database(tmp_path):
    assert cache_path_for(tmp_path / "mlsprep.db") == tmp_path / "mlsprep.db.embcache"
    assert cache_path_for(":memory:") is None
    assert cache_path_for("") is None


def test_cached_texts_are_encoded_once_per_process(embedder, tmp_path):
    cached = Embedder(cache_path=tmp_path / "a.db.embcache")
    first = cached.encode_cached(["Enable versioning.", "Block public access."])
    again = cached.encode_cached(["Block public access.", "Enable versioning."])
    assert cached.encoded_count == 2
    assert np.array_equal(first[::-1], again)
    assert np.allclose(first, embedder.encode(["Enable versioning.", "Block public access."]),
                       atol=1e-5)


def test_a_restart_reads_the_corpus_vectors_from_disk(tmp_path):
    path = tmp_path / "mlsprep.db.embcache"
    texts = ["Encrypt the data at rest with KMS.", "Audit access with CloudTrail."]
    before = Embedder(cache_path=path).encode_cached(texts)
    restarted = Embedder(cache_path=path)  # a new process: nothing in memory, model unloaded
    after = restarted.encode_cached(texts)
    assert restarted.encoded_count == 0
    assert not restarted.ready  # the model was not even loaded
    assert np.array_equal(before, after)


def test_an_edited_text_or_another_model_misses_the_cache(tmp_path):
    path = tmp_path / "mlsprep.db.embcache"
    Embedder(cache_path=path).encode_cached(["Enable versioning."])
    edited = Embedder(cache_path=path)
    edited.encode_cached(["Enable versioning on the bucket."])
    assert edited.encoded_count == 1
    other = Embedder("some-other-model", cache_path=path)
    assert other.model_name != BUNDLED_MODEL
    assert other._key("Enable versioning.") != edited._key("Enable versioning.")
    with pytest.raises(Exception):  # noqa: B017  (no such local model: loading fails offline)
        other.encode_cached(["Enable versioning."])


class OverlapRecorder:
    """Stands in for the loaded SentenceTransformer and notices two threads inside it."""

    def __init__(self):
        self.inside = 0
        self.overlaps = 0
        self.calls = 0
        self.tokenizer = self

    def _enter(self):
        self.inside += 1
        if self.inside > 1:
            self.overlaps += 1
        time.sleep(0.002)
        self.calls += 1
        self.inside -= 1

    def tokenize(self, text):
        self._enter()
        return text.split()

    def encode(self, texts, **kwargs):
        self._enter()
        return np.ones((len(texts), 384), dtype=np.float32)


def test_model_is_used_by_one_thread_at_a_time():
    # The fast tokenizer's shared padding state breaks when a thread counts tokens while
    # another encodes; the embedder must serialise every use of the model.
    embedder = Embedder()
    fake = OverlapRecorder()
    embedder._model = fake
    embedder._loaded.set()

    def hammer(n):
        for _ in range(20):
            if n % 2:
                embedder.encode(["x"])
            else:
                embedder.count_tokens("a b")

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fake.calls == 6 * 20
    assert fake.overlaps == 0
