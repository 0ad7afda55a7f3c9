"""Building the coach from settings: the store, the bank, the model and the grader, wired once.

Both adapters (the terminal coach and the Slack bot) start here. Nothing heavy happens at
build time: the model loads on the first answer that needs it, or in the background when an
adapter calls `coach.warm_up()`.
"""

from __future__ import annotations

import random
import threading

from bot.config import Settings
from bot.core.coach import Coach
from bot.core.corpus import load_corpus
from bot.store import Store


class LazyGrader:
    """The scorer's Grader, built on first use so that starting the coach costs no model load.

    `warm_up()` loads the model, builds the Grader and encodes the bank's reference side in a
    background thread; `ready` says whether grading can start without waiting for the model.
    `close()` stops that work and waits for it: a process must not exit while torch is busy
    in another thread (it aborts with "terminate called without an active exception")."""

    def __init__(self, embedder, questions=(), threads: int = 1):
        self.embedder = embedder
        self.questions = tuple(questions)  # encoded ahead by warm_up, when the scorer can
        self.threads = threads  # the entailment judge's runs at once (bot/nli.py)
        self._grader = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _build(self):
        with self._lock:
            if self._grader is None:
                from bot.core.scoring import Grader
                from bot.nli import EntailmentModel

                self._grader = Grader(self.embedder,
                                      judge=EntailmentModel(threads=self.threads),
                                      bank=self.questions)
        return self._grader

    def grade(self, question, text):
        return self._build().grade(question, text)

    def encode_answers(self, answers, questions=()):
        """These answers' pieces encoded in one embedder call, with the reference side of
        `questions` prepared first (one more call, when not yet): see Grader.encode_answers.
        The durable jobs encode the answers waiting to be graded this way."""
        grader = self._build()
        grader.prepare_references(questions)
        return grader.encode_answers(answers)

    def prefetched(self, answers=(), vectors=None):
        """A block in which this thread grades with answer vectors encoded ahead."""
        return self._build().prefetched(answers, vectors=vectors)

    def warm_up(self) -> threading.Thread:
        if self._thread is None:
            self._thread = threading.Thread(target=self._warm, name="grader-warm-up",
                                            daemon=True)
            self._thread.start()
        return self._thread

    def _warm(self) -> None:
        try:
            self.embedder.load()
            grader = self._build()
            # The reference answers' vectors, a question at a time so close() can stop it.
            for question in self.questions:
                if self._stop.is_set():
                    return
                grader.warm([question])
        except Exception:  # the first real grade() meets the error and reports it
            pass

    def close(self, timeout: float | None = None) -> bool:
        """Stop warming up and wait (up to `timeout` seconds) for the model work in flight;
        True when nothing is left running."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def ready(self) -> bool:
        return self._grader is not None and bool(getattr(self.embedder, "ready", True))


def default_embedder(settings: Settings, threads: int = 1):
    """The real embedder (MLSPREP_EMBEDDER: the ONNX export unless torch is asked for or
    MLSPREP_MODEL names another model), with its vector cache beside the database."""
    from bot.embeddings import cache_path_for, make_embedder

    return make_embedder(settings.embedder, settings.model,
                         cache_path=cache_path_for(settings.database_path), threads=threads)


def build_coach(settings: Settings, embedder=None, *, grader=None,
                rng: random.Random | None = None, threads: int = 1) -> Coach:
    """The coach for these settings: Store at DATABASE_PATH, the bank at MLSPREP_CORPUS (or
    corpus/), and the Grader over `embedder` (default: the real model, loaded lazily).
    `grader` replaces the real one entirely (tests). `threads`: cores the models may use
    for one answer; all of them for one learner at a terminal, 1 when several answers are
    graded side by side (the server's job threads share the cores; it hands in an embedder
    that spreads each batch of waiting answers over them, bot/slack/app.py)."""
    store = Store(settings.database_path, busy_timeout_ms=settings.busy_timeout_ms,
                  lock_wait=settings.lock_wait)
    corpus = load_corpus(settings.corpus_path or None)
    if grader is None:
        if embedder is None:
            embedder = default_embedder(settings, threads=threads)
        grader = LazyGrader(embedder, questions=corpus, threads=threads)
    return Coach(corpus, store, grader, exam=settings.exam, tz=settings.tz, rng=rng)
