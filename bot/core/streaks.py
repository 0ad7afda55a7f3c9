"""Streaks of days practised, counted in the person's own time zone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def practice_days(times: Iterable[datetime], tz: str) -> set[date]:
    """The local dates (in `tz`) on which something was practised."""
    zone = ZoneInfo(tz)
    return {moment.astimezone(zone).date() for moment in times}


def streaks(times: Iterable[datetime], tz: str, now: datetime) -> tuple[int, int]:
    """(current, longest) runs of consecutive local days with practice.

    The current streak is still alive on a day not yet practised if yesterday was: it ends
    only when a whole local day goes by without practice."""
    days = sorted(practice_days(times, tz))
    longest = run = 0
    previous: date | None = None
    for day in days:
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        longest = max(longest, run)
        previous = day
    today = now.astimezone(ZoneInfo(tz)).date()
    if previous is None or (today - previous).days > 1:
        return 0, longest
    return run, longest
