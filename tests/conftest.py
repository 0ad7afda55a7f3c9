"""Shared fixtures. The real embedding model is loaded once for the whole run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from bot.core.corpus import Corpus, load_corpus


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return load_corpus()


@pytest.fixture(scope="session")
def embedder():
    """The real bundled all-MiniLM-L6-v2 model, loaded once per test session."""
    from bot.embeddings import Embedder

    model = Embedder()
    model.load()
    return model


@pytest.fixture(scope="session")
def onnx_embedder():
    """The same model exported to ONNX (what serving runs), loaded once per test session."""
    from bot.embeddings import OnnxEmbedder

    model = OnnxEmbedder()
    model.load()
    return model


class CountingEmbedder:
    """A real embedder with the texts of every `encode` call recorded (`encode_cached` goes
    straight to the real one: reference vectors are not what is counted); one that names
    `fail_on` fails, as a model error would; one of more than `slow_over` texts takes a
    second longer, as a big batch on a busy machine would."""

    def __init__(self, embedder, fail_on: str | None = None, slow_over: int | None = None):
        self.real = embedder
        self.fail_on = fail_on
        self.slow_over = slow_over
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def encode(self, texts):
        with self._lock:
            self.calls.append(list(texts))
        if self.fail_on and any(self.fail_on in t for t in texts):
            raise RuntimeError("the model failed on this text")
        if self.slow_over is not None and len(texts) > self.slow_over:
            time.sleep(1.0)
        return self.real.encode(texts)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def counting_embedder():
    """CountingEmbedder, for the batching tests here and in tests/slack/."""
    return CountingEmbedder


FIXTURE_CORPUS = Path(__file__).parent / "fixtures" / "corpus"


class ScriptedGrader:
    """A stand-in for the scorer in pure unit tests: the answer text names its own score.

    "72" scores 72 (band by the scorer's thresholds); a blank answer is ungradable (EMPTY);
    for choice items the text is the letter(s), right or wrong."""

    def __init__(self):
        self.calls = 0

    def grade(self, question, text):
        from bot.core.grade import EMPTY, STRONG, UNCLEAR_CHOICE, WEAK, Grade, band_for

        self.calls += 1
        text = text.strip()
        if not text:
            return Grade(score=0, band=WEAK, flag=EMPTY, message="Type an answer first.")
        if question.is_choice:
            letters = tuple(sorted(c for c in text.upper() if c in question.letters))
            if not letters:
                return Grade(score=0, band=WEAK, flag=UNCLEAR_CHOICE,
                             message="Pick a letter.")
            right = letters == tuple(sorted(question.answer))
            return Grade(score=100 if right else 0, band=STRONG if right else WEAK,
                         chosen=letters)
        score = int(text.split()[0])
        half = len(question.key_points) * score // 100
        return Grade(score=score, band=band_for(score), covered=question.key_points[:half],
                     missed=question.key_points[half:])


@pytest.fixture(scope="session")
def fixture_corpus() -> Corpus:
    """The small fixed bank in tests/fixtures/corpus (three items per MLS-C01 domain)."""
    return load_corpus(FIXTURE_CORPUS)


@pytest.fixture
def store(tmp_path):
    from bot.store import Store

    store = Store(tmp_path / "test.db")
    yield store
    store.close()


@pytest.fixture
def make_coach(fixture_corpus, store):
    """Build a Coach over the fixture bank, a real SQLite file and the scripted grader."""
    import random

    from bot.core.coach import Coach

    def make(seed: int = 7, tz: str = "UTC", exam: str = "mls-c01", grader=None):
        return Coach(fixture_corpus, store, grader or ScriptedGrader(), exam=exam, tz=tz,
                     rng=random.Random(seed))

    return make


@pytest.fixture(scope="session")
def judge():
    """The shipped entailment model (onnxruntime), loaded once per test session."""
    from bot.nli import EntailmentModel

    model = EntailmentModel()
    model.load()
    return model
