"""Leaderboard points that cannot be farmed, and the week they are counted in.

A person's points are, per question, the best score they reached (counted once however often
they answer it) plus PARTICIPATION_POINTS for each daily channel question they answered.
Ties go to whoever reached their total first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

PARTICIPATION_POINTS = 10


@dataclass(frozen=True)
class Standing:
    person_id: str
    points: int
    reached_at: datetime  # when the person last raised their total


def week_start(now: datetime, tz: str) -> datetime:
    """Monday 00:00 of the current week in the time zone `tz` (an aware datetime)."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    return datetime.combine(monday, time(0), tzinfo=zone)


def week_end(start: datetime) -> datetime:
    """The Monday 00:00 after `start`, on the wall clock (a DST week is 167 or 169 hours)."""
    return datetime.combine(start.date() + timedelta(days=7), time(0), tzinfo=start.tzinfo)


def standings(rows: Iterable[Mapping]) -> list[Standing]:
    """Points per person, best first. `rows` are attempts in the order they were made, each
    with person_id, question_id, score, daily_id (or None) and created_at (ISO text)."""
    best: dict[str, dict[str, int]] = {}
    daily: dict[str, set[int]] = {}
    totals: dict[str, int] = {}
    reached: dict[str, datetime] = {}
    for row in rows:
        person = row["person_id"]
        scores = best.setdefault(person, {})
        gain = max(0, int(row["score"]) - scores.get(row["question_id"], 0))
        if gain:
            scores[row["question_id"]] = int(row["score"])
        posts = daily.setdefault(person, set())
        if row["daily_id"] is not None and row["daily_id"] not in posts:
            posts.add(row["daily_id"])
            gain += PARTICIPATION_POINTS
        if gain or person not in totals:
            totals[person] = totals.get(person, 0) + gain
            reached[person] = datetime.fromisoformat(row["created_at"])
    ranked = sorted(totals, key=lambda p: (-totals[p], reached[p], p))
    return [Standing(p, totals[p], reached[p]) for p in ranked]
