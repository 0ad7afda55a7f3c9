"""Durable jobs: answers (and every other message) taken from Slack run from a table, not memory.

The listener writes the job in the transaction that records the event id, before the ack
(`Store.take_job`). A dispatcher thread reads the unfinished rows, oldest first, and hands
them to a few worker threads; a handler finishes its job in the same transaction as what it
produced (the attempt, the reply to send). Whatever is unfinished when the process dies is
simply still in the table, and the next start runs it.

A person's jobs run one at a time and in the order they came, so "quiz" then an answer is
never graded before the question is asked. An answer that arrives while the model loads is
parked (its handler says WAIT) and runs once the model is ready; meanwhile the person's later
jobs run (a Skip, a new question), and their later answers park too, graded in order.

Answers waiting at the same time are graded in batches: the dispatcher hands the ready ones
(one per person, up to BATCH_MAX) to one worker thread, which opens the `batch` context once
(the coach encodes all their pieces in one embedder call) and then runs each job in turn,
exactly as alone: each is finished in its own transaction, its reply queued as soon as it is
graded, and a job that fails is retried or given up on its own. If the batch's encoding
fails, its jobs run one by one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, nullcontext

from bot.store import Store, is_locked

log = logging.getLogger(__name__)

WAIT = "wait"  # a handler's answer: not now, the model is still loading
DEFAULT_WORKERS = 4  # the most job threads by default: grading is CPU-bound, more only queue
MAX_TRIES = 3  # a job that fails this often (not counting locks) is answered with an apology
LOCKED_PAUSE_MAX = 1.0  # a job that met a lock runs again after this pause
BATCH_MAX = 16  # the most waiting answers graded after one shared embedder call


def default_job_workers() -> int:
    """How many answers are graded at once when MLSPREP_JOB_WORKERS does not say: one per
    core this process may run on (each model call uses one thread), between 2 and 4.

    Measured with scripts/bench_serve.py on 2 cores, 50 people: 2 workers graded 3.0
    answers/s with a 744 MB peak, 4 workers 2.8 answers/s with a 947 MB peak (each running
    answer holds its activations)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 2
    return max(2, min(DEFAULT_WORKERS, cores))


class Jobs:
    def __init__(self, store: Store, handle: Callable[[dict], str | None],
                 give_up: Callable[[dict, Exception], None], *,
                 ready: Callable[[], bool] = lambda: True, workers: int = DEFAULT_WORKERS,
                 poll: float = 0.5, after: Callable[[], None] = lambda: None,
                 batchable: Callable[[dict], bool] = lambda job: False,
                 batch: Callable[[list[dict]], AbstractContextManager] = lambda jobs:
                 nullcontext(), batch_max: int = BATCH_MAX):
        self.store = store
        self._handle = handle
        # Which jobs are answers to grade (a guess from the row: a wrong one only costs an
        # encoding or a batch missed), and the context the jobs of a batch run in.
        self._batchable = batchable
        self._batch = batch
        self.batch_max = max(1, batch_max)
        self._after = after  # runs on the worker thread after every job (bot.memory)
        self._give_up = give_up
        self._ready = ready
        self.workers = workers
        self._poll = poll
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlsprep-job")
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._running: dict[int, str] = {}  # job id -> person, for jobs in a worker thread
        self._tasks = 0  # single jobs and batches handed to a thread: at most `workers`
        self._parked: set[int] = set()  # answers waiting for the model
        self._later: dict[int, float] = {}  # job id -> monotonic time it may run again
        self._thread: threading.Thread | None = None

    # control -----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the dispatcher; every unfinished row in the table is picked up."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="mlsprep-jobs",
                                            daemon=True)
            self._thread.start()

    def nudge(self) -> None:
        """A job was written (or a retry found one unfinished): look at the table now."""
        self._wake.set()

    @property
    def waiting(self) -> int:
        """Unfinished jobs (queued, running or waiting for the model)."""
        return self.store.count_open_jobs()

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no job is unfinished (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = bool(self._running)
            if not busy and self.store.count_open_jobs() == 0:
                return True
            self.nudge()
            time.sleep(0.02)
        return False

    def stop(self, timeout: float) -> bool:
        """Start no new job; wait up to `timeout` for the running ones. What is left stays in
        the table for the next start. True when nothing was still running."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    break
            time.sleep(0.02)
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            left = len(self._running)
        if left:
            log.warning("shutdown: %d job(s) still running are left for the next start", left)
        return left == 0

    # the dispatcher ----------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._dispatch()
            except Exception as exc:  # e.g. the table is locked: look again shortly
                level = logging.WARNING if is_locked(exc) else logging.ERROR
                log.log(level, "reading the job table failed: %s", exc)
            self._wake.wait(self._poll)
            self._wake.clear()

    def _dispatch(self) -> None:
        rows = self.store.open_jobs()
        ready = self._ready()
        now = time.monotonic()
        blocked: set[str] = set()  # people with an earlier job not yet finished
        with self._lock:
            if ready:
                self._parked.clear()
            open_ids = {row["id"] for row in rows}
            for job_id in [j for j in self._later if j not in open_ids]:
                del self._later[job_id]  # finished meanwhile
            runnable = []  # oldest first, at most one per person: their next job
            for row in rows:
                person = row["person_id"]
                job_id = row["id"]
                if person in blocked:
                    continue
                if job_id in self._parked:
                    # An answer waiting for the model does not hold up the person's asking
                    # or skipping meanwhile; their later answers park behind it in order.
                    continue
                blocked.add(person)
                if job_id in self._running or self._later.get(job_id, 0) > now:
                    continue
                runnable.append(row)
            if not runnable:
                return
            # Answers to grade go in batches once the model is ready; split evenly over the
            # free threads, so that one thread does not queue 16 while another idles.
            answers = [row for row in runnable if ready and self._batchable(row)]
            free = max(1, self.workers - self._tasks)
            size = max(1, min(self.batch_max, -(-len(answers) // free)))
            in_batch = {row["id"] for row in answers}
            handed: set[int] = set()
            for row in runnable:
                # Only as many as there are threads: what is handed over runs now (a batch,
                # one job after the other), so a stop waits for the jobs in hand and the
                # rest simply stay in the table.
                if self._stopping.is_set() or self._tasks >= self.workers:
                    return
                if row["id"] in handed:
                    continue
                if row["id"] in in_batch:
                    group = [r for r in answers if r["id"] not in handed][:size]
                else:
                    group = [row]
                for job in group:
                    handed.add(job["id"])
                    self._later.pop(job["id"], None)
                    self._running[job["id"]] = job["person_id"]
                self._tasks += 1
                try:
                    self._pool.submit(self._run_group, group, row["id"] in in_batch)
                except RuntimeError:  # the pool was shut down: the jobs stay in the table
                    self._tasks -= 1
                    for job in group:
                        self._running.pop(job["id"], None)
                    return

    def _run_group(self, rows: list[dict], batch: bool) -> None:
        """Run jobs one after the other on this thread; a batch of answers runs inside the
        `batch` context (its pieces encoded together). Each job ends on its own."""
        try:
            with ExitStack() as context:
                if batch:
                    try:
                        context.enter_context(self._batch(rows))
                    except Exception:
                        # Not the jobs' fault, and each can still be graded alone.
                        log.warning("encoding a batch of %d answers failed; they are graded "
                                    "one by one", len(rows), exc_info=True)
                for n, row in enumerate(rows):
                    if self._stopping.is_set():
                        # Not started: left open in the table for the next start.
                        with self._lock:
                            for job in rows[n:]:
                                self._running.pop(job["id"], None)
                        break
                    self._run(row)
        except Exception:  # only the batch context's exit can get here
            log.exception("closing a batch of %d jobs failed", len(rows))
        finally:
            with self._lock:
                self._tasks -= 1
                for job in rows:  # never left marked running, whatever happened
                    self._running.pop(job["id"], None)
            self._wake.set()

    def _run(self, row: dict) -> None:
        job_id = row["id"]
        again_in = None
        try:
            # The dispatcher's read may predate a run of this job that has just finished:
            # only a job still open in the table runs.
            fresh = self.store.job(job_id)
            if fresh is None or fresh["done_at"] is not None:
                return
            if self._handle(fresh) == WAIT:
                with self._lock:
                    self._parked.add(job_id)
            else:
                # A handler that replied directly (no attempt) is finished here.
                self.store.finish_job(job_id)
        except Exception as exc:
            again_in = self._failed(row, exc)
        finally:
            try:
                self._after()
            except Exception:
                log.exception("the after-job hook failed")
            with self._lock:
                self._running.pop(job_id, None)
                if again_in is not None:
                    self._later[job_id] = time.monotonic() + again_in
            self._wake.set()

    def _failed(self, row: dict, exc: Exception) -> float | None:
        """How long to wait before the job runs again, or None once it was given up."""
        if self._stopping.is_set():
            # Cut short by the shutdown (the store closing under it): not the job's fault,
            # and its row is still open for the next start.
            log.info("job %d interrupted by the shutdown; it runs on the next start", row["id"])
            return LOCKED_PAUSE_MAX
        if is_locked(exc):
            # Never a reason to drop an answer: the lock ends, and the job runs again then.
            log.warning("job %d met a database lock; it runs again shortly", row["id"])
            return LOCKED_PAUSE_MAX
        log.error("job %d (%s) failed", row["id"], row["kind"], exc_info=exc)
        try:
            tries = self.store.job_tried(row["id"])
        except Exception:
            return LOCKED_PAUSE_MAX
        if tries < MAX_TRIES:
            return 0.5 * tries
        try:
            self._give_up(row, exc)
        except Exception:
            log.exception("giving up job %d failed; it runs again", row["id"])
            return LOCKED_PAUSE_MAX
        return None
