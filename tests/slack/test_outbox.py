"""The deliverer's own rules, on a real store file: a reply is sent only while it is due."""

from __future__ import annotations

import time

from bot.slack.outbox import Outbox, reply
from bot.store import Store


class RecordingClient:
    """Takes every chat.postMessage, as Slack would, and remembers it."""

    def __init__(self):
        self.posts: list[dict] = []

    def chat_postMessage(self, **args):
        self.posts.append(args)
        return {"ok": True}


def test_a_row_read_before_another_try_set_it_for_later_is_not_sent_early(tmp_path):
    store = Store(tmp_path / "outbox.db")
    client = RecordingClient()
    outbox = Outbox(store, client)
    reply_id = store.queue_reply(reply("chat.postMessage", channel="D1", text="Score 80/100"))
    read_by_the_loop = store.due_replies(time.time())[0]
    # Meanwhile another delivery thread tried it, met a 429 and set it for a minute later.
    store.reply_retry(reply_id, time.time() + 60, "ratelimited")
    outbox._deliver(read_by_the_loop)
    assert client.posts == []  # the Retry-After is honoured
    assert store.due_replies(time.time() + 61)[0]["tries"] == 1

    store.reply_retry(reply_id, time.time() - 1, "ratelimited")  # now it is due again
    outbox._deliver(read_by_the_loop)
    assert client.posts == [{"channel": "D1", "text": "Score 80/100"}]
    assert store.count_undelivered() == 0
