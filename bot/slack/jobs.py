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

Answers that wait at the same time share one embedder call (issue 10, item 9). Jobs are still
handed out one at a time, oldest first, as above; but the first answer a worker takes also
brings the answers waiting behind it (the next in line, one per person, up to BATCH_MAX)
into a batch: the worker encodes all their pieces in one call (`prepare`), and each of them,
whichever thread runs it later, grades with those vectors (`using`) instead of encoding its
own. Nothing else changes: each job is finished in its own transaction, its reply queued as
soon as it is graded, and it is retried or given up on its own. A batch whose encoding fails
is not retried as a batch: its jobs are graded one by one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

from bot.config import cores
from bot.store import Store, is_locked

log = logging.getLogger(__name__)

WAIT = "wait"  # a handler's answer: not now, the model is still loading
DEFAULT_WORKERS = 4  # the most job threads by default: grading is CPU-bound, more only queue
MAX_TRIES = 3  # a job that fails this often (not counting locks) is answered with an apology
LOCKED_PAUSE_MAX = 1.0  # a job that met a lock runs again after this pause
BATCH_MAX = 16  # the most waiting answers whose pieces are encoded in one call


def default_job_workers() -> int:
    """How many answers are graded at once when MLSPREP_JOB_WORKERS does not say: one per
    core this process may run on (each model call uses one thread), between 2 and 4.

    Measured with scripts/bench_serve.py on 2 cores, 50 people: 2 workers graded 3.0
    answers/s with a 744 MB peak, 4 workers 2.8 answers/s with a 947 MB peak (each running
    answer holds its activations)."""
    return max(2, min(DEFAULT_WORKERS, cores()))


class Jobs:
    def __init__(self, store: Store, handle: Callable[[dict], str | None],
                 give_up: Callable[[dict, Exception], None], *,
                 ready: Callable[[], bool] = lambda: True, workers: int = DEFAULT_WORKERS,
                 poll: float = 0.5, after: Callable[[], None] = lambda: None,
                 batchable: Callable[[dict], bool] = lambda job: False,
                 prepare: Callable[[list[dict]], object] = lambda jobs: None,
                 using: Callable[[object], AbstractContextManager] = lambda prepared:
                 nullcontext(), batch_max: int = BATCH_MAX):
        self.store = store
        self._handle = handle
        # Batching: which jobs are answers to grade (a guess from the row: a wrong one only
        # costs an encoding), what a batch prepares in one call, and how a job uses it.
        self._batchable = batchable
        self._prepare = prepare
        self._using = using
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
        self._parked: set[int] = set()  # answers waiting for the model
        self._later: dict[int, float] = {}  # job id -> monotonic time it may run again
        self._next_answers: list[dict] = []  # answers that may run now, oldest first
        self._batches: dict[int, _Batch] = {}  # job id -> the batch it is encoded in
        self._alone: set[int] = set()  # jobs whose batch failed to encode: graded alone
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
            for job_id in [j for j in self._batches if j not in open_ids]:
                del self._batches[job_id]  # finished (or taken by another process)
            self._alone &= open_ids
            waiting: list[dict] = []  # answers that may run but wait for a thread
            handing = True
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
                # Only as many as there are threads: a job handed over is one that runs now,
                # so a stop waits for those few and the rest simply stay in the table.
                if self._stopping.is_set() or len(self._running) >= self.workers:
                    handing = False
                if not handing:
                    if ready and job_id not in self._alone and self._batchable(row):
                        waiting.append(row)  # a batch may take it along
                    continue
                self._later.pop(job_id, None)
                self._running[job_id] = person
                self._pool.submit(self._run, row)
            self._next_answers = waiting

    def _run(self, row: dict) -> None:
        job_id = row["id"]
        again_in = None
        try:
            # The dispatcher's read may predate a run of this job that has just finished:
            # only a job still open in the table runs.
            fresh = self.store.job(job_id)
            if fresh is None or fresh["done_at"] is not None:
                return
            with self._batched(fresh):
                outcome = self._handle(fresh)
            if outcome == WAIT:
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
                self._batches.pop(job_id, None)  # its vectors were used, or a retry re-encodes
                if again_in is not None:
                    self._later[job_id] = time.monotonic() + again_in
            self._wake.set()

    def _batched(self, job: dict) -> AbstractContextManager:
        """The context an answer is graded in: the vectors of the batch it belongs to. The
        first answer of a batch encodes it, together with the answers waiting behind it; a
        job whose batch another thread is still encoding waits for it rather than encode its
        answer twice: the embedder spreads the batch over every core meanwhile
        (bot/slack/app.py). Measured with scripts/bench_serve.py, 50 people x 20 answers: 11.9-12.2
        answers/s against 10.8-11.3 when it encoded its own (docs/serving.md)."""
        if not self._batchable(job) or not self._ready():
            return nullcontext()
        with self._lock:
            if job["id"] in self._alone:
                return nullcontext()
            batch = self._batches.get(job["id"])
            if batch is None:
                taken = [job] + [r for r in self._next_answers
                                 if r["id"] != job["id"] and r["id"] not in self._batches
                                 and r["id"] not in self._alone][:self.batch_max - 1]
                batch = _Batch([r["id"] for r in taken])
                for row in taken:
                    self._batches[row["id"]] = batch
            else:
                taken = None
        if taken is not None:
            try:
                batch.prepared = self._prepare(taken)
            except Exception:
                # Not these jobs' fault: each is graded alone, and the one that cannot be
                # encoded then fails (and is retried, or given up) on its own.
                log.warning("encoding a batch of %d answers failed; they are graded one by "
                            "one", len(taken), exc_info=True)
                with self._lock:
                    self._alone.update(batch.ids)
            finally:
                batch.done.set()
        else:
            batch.done.wait()
        if batch.prepared is None:
            return nullcontext()
        return self._using(batch.prepared)

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


class _Batch:
    """Answers whose pieces are encoded in one call: what `prepare` returned for them, set
    (and `done`) once the call is over; None when it failed."""

    def __init__(self, ids: list[int]):
        self.ids = tuple(ids)
        self.prepared: object = None
        self.done = threading.Event()
