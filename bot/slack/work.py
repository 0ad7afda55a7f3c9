"""The work pool: what a listener does after its ack that is not an answer (a command's
reply, a click, App Home), and the model gate.

Listeners run their ack in the HTTP request thread and hand the rest to this pool, so busy
threads never delay an ack. This work is in memory only: answers, which must survive a
crash, go through the durable jobs of `bot.slack.jobs` instead, and use `ready` here to know
whether the model can grade. `when_ready` holds work in a list (not in a pool thread) while
the model loads and submits it the moment it is ready.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)

# Grading is CPU-bound on a small model: a few threads keep the cores busy; more only queue.
DEFAULT_WORKERS = 4




class Work:
    def __init__(self, workers: int = DEFAULT_WORKERS,
                 ready: Callable[[], bool] = lambda: True, poll: float = 0.2):
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlsprep-work")
        self._ready = ready
        self._poll = poll
        self._lock = threading.Lock()
        self._waiting: list[tuple[Callable, tuple]] = []
        self._open = False
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self._pending: set[Future] = set()

    @property
    def ready(self) -> bool:
        return self._open or self._ready()

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    def submit(self, fn: Callable, *args) -> Future | None:
        if self._stop.is_set():
            # Shutting down: this work is not durable (a command's reply, a click's), and
            # raising here would only turn it into a traceback.
            log.warning("shutting down: %s not started", getattr(fn, "__name__", fn))
            return None
        try:
            future = self._pool.submit(self._guarded, fn, *args)
        except RuntimeError:  # the pool shut down between the check and the submit
            log.warning("shutting down: %s not started", getattr(fn, "__name__", fn))
            return None
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    def when_ready(self, fn: Callable, *args) -> bool:
        """Run fn once the model is ready; True when it had to wait (the caller may say so)."""
        with self._lock:
            if not (self._open or self._ready()):
                self._waiting.append((fn, args))
                self._ensure_watcher()
                return True
            self._open = True
        self.submit(fn, *args)
        return False

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or running (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._waiting and all(f.done() for f in self._pending):
                    return True
            time.sleep(0.02)
        return False

    def shutdown(self, timeout: float | None = None) -> None:
        """Take no more work; wait for running work (up to `timeout` seconds when given)."""
        self._stop.set()
        with self._lock:
            dropped, self._waiting = self._waiting, []
        if dropped:
            log.warning("shutting down: %d job(s) waiting for the model not started",
                        len(dropped))
        if timeout is None:
            self._pool.shutdown(wait=True, cancel_futures=False)
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.idle(timeout)

    # internals ------------------------------------------------------------------------------
    def _ensure_watcher(self) -> None:
        if self._watcher is None or not self._watcher.is_alive():
            self._watcher = threading.Thread(target=self._watch, name="mlsprep-model-watch",
                                             daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(self._poll):
            if self._ready():
                with self._lock:
                    self._open = True
                    waiting, self._waiting = self._waiting, []
                log.info("model ready: scoring %d queued answer(s)", len(waiting))
                for fn, args in waiting:
                    self.submit(fn, *args)
                return

    def _done(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)

    @staticmethod
    def _guarded(fn: Callable, *args) -> None:
        # The outermost layer of a background job: a failure is logged, never lost silently,
        # and never takes the pool thread down.
        try:
            fn(*args)
        except Exception:
            log.exception("background job %s failed", getattr(fn, "__name__", fn))
