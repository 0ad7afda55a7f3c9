"""The work pool and its model gate, and the tokenizer guard, on their own."""

from __future__ import annotations

import threading
import time

from harness import wait_until

from bot.slack.work import Work, serialise_encoding


def test_jobs_wait_while_the_model_loads_then_all_run():
    ready = threading.Event()
    done: list[int] = []
    work = Work(workers=2, ready=ready.is_set, poll=0.01)
    try:
        assert work.when_ready(done.append, 1) is True  # had to wait
        assert work.when_ready(done.append, 2) is True
        work.submit(done.append, 0)  # ordinary work does not wait for the model
        wait_until(lambda: done == [0])
        assert work.waiting == 2 and not work.ready
        ready.set()
        assert work.idle(5)
        assert sorted(done) == [0, 1, 2] and work.waiting == 0 and work.ready
        assert work.when_ready(done.append, 3) is False  # ready now: runs at once
        assert work.idle(5) and done[-1] == 3
    finally:
        work.shutdown()


def test_a_failing_job_is_logged_and_the_pool_keeps_working(caplog):
    work = Work(workers=1)
    done = []
    try:
        work.submit(lambda: 1 / 0)
        work.submit(done.append, "after")
        assert work.idle(5)
    finally:
        work.shutdown()
    assert done == ["after"]
    assert "background job" in caplog.text and "ZeroDivisionError" in caplog.text


class Recorder:
    """An embedder that notices when two threads are inside it at once."""

    def __init__(self):
        self.inside = 0
        self.overlaps = 0
        self.calls = 0

    def _enter(self):
        self.inside += 1
        if self.inside > 1:
            self.overlaps += 1
        time.sleep(0.002)
        self.calls += 1
        self.inside -= 1

    def encode(self, texts):
        self._enter()
        return texts

    def count_tokens(self, text):
        self._enter()
        return len(text.split())

    def encode_cached(self, texts):
        return self.encode(texts)  # re-enters through the instance attribute


def test_serialised_encoding_never_overlaps_and_is_idempotent():
    model = Recorder()
    serialise_encoding(model)
    serialise_encoding(model)  # a second app over the same embedder wraps nothing twice

    def hammer(n):
        for _ in range(20):
            model.encode(["x"]) if n % 2 else model.count_tokens("a b")
            model.encode_cached(["y"])

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.calls == 6 * 40 and model.overlaps == 0
