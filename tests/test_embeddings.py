"""The model adapter: offline loading, lazy import, normalised vectors and the disk cache."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bot.embeddings import BUNDLED_MODEL, Embedder, OnnxEmbedder, cache_path_for

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


# --- the ONNX export that serving runs --------------------------------------------------------

def varied_texts(corpus) -> list[str]:
    """About fifty texts of every shape an answer or a reference takes."""
    open_items = [q for q in corpus if not q.is_choice]
    texts = [q.reference_answer for q in open_items[:12]]
    texts += [point for q in open_items[12:18] for point in q.key_points][:12]
    texts += [q.prompt for q in open_items[18:24]]
    texts += [
        "x", "KMS", "I don't know", "idk", "?", "   spaced   out   words   ",
        "ENABLE VERSIONING ON THE BUCKET", "enable versioning on the bucket",
        "Use SageMaker Model Monitor, then retrain when drift shows up. " * 40,  # > 256 tokens
        "Ünïcödé, émojis 🚀 and 数字 in one answer", "C'est la vie, naïve café.",
        "encrypt\nthe\ttable", "1234567890 3.14159 1e-9", "<b>markup</b> `code` *stars*",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "sdfgh qwert zxcvb",
        "The model overfits: add dropout, regularise and get more data.",
        "Use a VPC endpoint so traffic to S3 never leaves the AWS network.",
        "不知道", "a " * 300,
    ]
    return texts


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_the_onnx_export_gives_the_sentence_transformers_vectors(embedder, onnx_embedder,
                                                                 corpus):
    texts = varied_texts(corpus)
    assert len(texts) >= 48 and len(set(texts)) == len(texts)
    reference = embedder.encode(texts)
    batched = onnx_embedder.encode(texts)  # padded batches of mixed lengths
    one_by_one = np.concatenate([onnx_embedder.encode([t]) for t in texts])
    assert batched.shape == reference.shape and batched.dtype == np.float32
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    for served in (batched, one_by_one):
        worst = cosines(reference, served)
        assert worst.min() >= 0.9999, [texts[i][:40] for i in np.flatnonzero(worst < 0.9999)]


def test_the_onnx_export_counts_tokens_and_knows_words_like_the_model(embedder, onnx_embedder,
                                                                      corpus):
    texts = varied_texts(corpus)
    assert [onnx_embedder.count_tokens(t) for t in texts] == \
        [embedder.count_tokens(t) for t in texts]
    assert onnx_embedder.count_tokens("the cat sat on the mat") == 6
    assert onnx_embedder.count_tokens("a " * 300) == 300  # counted whole, not cut at 256
    assert onnx_embedder.vocabulary() == embedder.vocabulary()


def test_the_onnx_export_cuts_texts_at_256_tokens_like_the_model(onnx_embedder):
    head = "Encrypt the bucket with KMS. " * 40  # 280 tokens
    assert onnx_embedder.count_tokens(head) > 256
    longer = head + "Then delete every object and disable logging. " * 20
    # Past the window the text is not read, exactly as sentence-transformers truncates.
    vectors = onnx_embedder.encode([head, longer])
    assert np.allclose(vectors[0], vectors[1], atol=1e-6)


def test_the_onnx_export_is_safe_on_several_threads(onnx_embedder, corpus):
    texts = varied_texts(corpus)[:24]
    expected = onnx_embedder.encode(texts)
    counts = [onnx_embedder.count_tokens(t) for t in texts]
    failures: list[str] = []

    def hammer(n):
        for i in range(len(texts)):
            j = (i + n) % len(texts)
            try:
                if not np.allclose(onnx_embedder.encode([texts[j], texts[-1 - j]]),
                                   expected[[j, -1 - j]], atol=1e-5):
                    failures.append(f"vector {j}")
                if onnx_embedder.count_tokens(texts[j]) != counts[j]:
                    failures.append(f"count {j}")
            except Exception as exc:  # a shared-state failure would surface as an exception
                failures.append(repr(exc))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_runs_side_by_side_give_the_vectors_of_runs_one_after_another(onnx_embedder, corpus):
    """One answer's pieces (few, one per run) and a bank's worth (many, two per run) on two
    cores at once: the same vectors, in the callers' order, as on one."""
    texts = varied_texts(corpus)
    side_by_side = OnnxEmbedder(threads=2)
    for some in (texts[:7], texts[:40]):
        assert side_by_side.encode(some).tobytes() == onnx_embedder.encode(some).tobytes()
    assert side_by_side._pool is not None and onnx_embedder._pool is None


def test_onnx_vectors_are_cached_apart_from_the_torch_ones(tmp_path):
    from bot.embeddings import ONNX_MODEL, OnnxEmbedder

    path = tmp_path / "mlsprep.db.embcache"
    Embedder(cache_path=path).encode_cached(["Enable versioning."])
    served = OnnxEmbedder(cache_path=path)
    assert served.model_name == ONNX_MODEL
    served.encode_cached(["Enable versioning.", "Enable versioning."])
    assert served.encoded_count == 1  # not read from the torch rows, encoded once
    restarted = OnnxEmbedder(cache_path=path)
    restarted.encode_cached(["Enable versioning."])
    assert restarted.encoded_count == 0 and not restarted.ready


@pytest.mark.parametrize("backend, model, kind", [
    ("onnx", "", "OnnxEmbedder"),
    ("torch", "", "Embedder"),
    ("onnx", "/some/other/model", "Embedder"),  # only the bundled model is exported
])
def test_the_backend_setting_picks_the_embedder(backend, model, kind):
    from bot.config import Settings
    from bot.wiring import default_embedder

    settings = Settings.from_env({"MLSPREP_EMBEDDER": backend, "MLSPREP_MODEL": model,
                                  "DATABASE_PATH": ":memory:"})
    assert type(default_embedder(settings)).__name__ == kind


def test_an_unknown_backend_is_refused_by_name():
    from bot.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="MLSPREP_EMBEDDER"):
        Settings.from_env({"MLSPREP_EMBEDDER": "tensorflow"})


SERVING_CHECK = r"""
import sys, tempfile
from bot.config import Settings
from bot.wiring import build_coach
import bot.slack.app, bot.cli.serve  # what `python -m bot serve` imports
settings = Settings.from_env({"DATABASE_PATH": tempfile.mkdtemp() + "/x.db"})
coach = build_coach(settings)
question = next(q for q in coach.corpus if not q.is_choice and q.key_points)
grade = coach.grader.grade(question, question.reference_answer)
print("embedder", type(coach.grader.embedder).__name__, coach.grader.embedder.encoded_count > 0)
print("graded", grade.score, grade.band)
print("loaded", sorted(m for m in ("torch", "sentence_transformers", "transformers")
                       if m in sys.modules))
"""


def test_grading_on_the_serving_path_never_imports_torch(tmp_path):
    # HOME is a scratch folder: onnxruntime writes a device id under ~/.cache.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", SERVING_CHECK], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "embedder OnnxEmbedder True" in result.stdout
    assert "graded " in result.stdout
    assert "loaded []" in result.stdout, result.stdout
