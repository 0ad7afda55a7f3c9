"""Streaks count local days in the person's own time zone, across midnight and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.core.streaks import practice_days, streaks

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def local(zone, *parts):
    return datetime(*parts, tzinfo=zone)


def test_no_practice_no_streak():
    assert streaks([], "UTC", datetime(2026, 3, 2, tzinfo=UTC)) == (0, 0)


def test_two_answers_either_side_of_local_midnight_make_two_days():
    times = [local(NY, 2026, 3, 2, 23, 50), local(NY, 2026, 3, 3, 0, 10)]
    assert streaks(times, "America/New_York", local(NY, 2026, 3, 3, 12)) == (2, 2)


def test_midnight_is_the_persons_not_utc():
    # 23:50 and 00:10 New York time are 04:50 and 05:10 UTC: one UTC day, two local days.
    times = [local(NY, 2026, 3, 2, 23, 50), local(NY, 2026, 3, 3, 0, 10)]
    assert len(practice_days(times, "UTC")) == 1
    assert len(practice_days(times, "America/New_York")) == 2


def test_consecutive_local_days_in_tokyo_that_are_one_utc_day():
    # 09:00 on 30 April and 00:30 on 1 May in Tokyo are 00:00 and 15:30 UTC on 30 April.
    times = [local(TOKYO, 2026, 5, 1, 0, 30), local(TOKYO, 2026, 4, 30, 9, 0)]
    assert streaks(times, "Asia/Tokyo", local(TOKYO, 2026, 5, 1, 8)) == (2, 2)
    assert streaks(times, "UTC", local(TOKYO, 2026, 5, 1, 8)) == (1, 1)


def test_a_streak_survives_a_spring_forward_night():
    # US clocks jump from 02:00 to 03:00 on 2026-03-08: that local day has 23 hours.
    times = [local(NY, 2026, 3, 7, 22, 0), local(NY, 2026, 3, 8, 23, 30),
             local(NY, 2026, 3, 9, 0, 30)]
    assert streaks(times, "America/New_York", local(NY, 2026, 3, 9, 20)) == (3, 3)


def test_a_streak_survives_a_fall_back_night():
    # US clocks go from 02:00 back to 01:00 on 2026-11-01: that local day has 25 hours.
    times = [local(NY, 2026, 10, 31, 23, 59), local(NY, 2026, 11, 1, 1, 30),
             local(NY, 2026, 11, 2, 0, 5)]
    assert streaks(times, "America/New_York", local(NY, 2026, 11, 2, 9)) == (3, 3)


@pytest.mark.parametrize("now, current", [
    (local(NY, 2026, 3, 10, 12), 3),   # practised today
    (local(NY, 2026, 3, 11, 23, 59), 3),  # not yet today, but yesterday: still alive
    (local(NY, 2026, 3, 12, 0, 1), 0),  # a whole day missed
])
def test_the_current_streak_lives_until_a_whole_local_day_is_missed(now, current):
    times = [local(NY, 2026, 3, d, 12) for d in (8, 9, 10)]
    assert streaks(times, "America/New_York", now) == (current, 3)


def test_the_longest_streak_is_remembered_after_a_break():
    days = [1, 2, 3, 4, 6, 7, 9]
    times = [datetime(2026, 3, d, 10, tzinfo=UTC) for d in days]
    assert streaks(times, "UTC", datetime(2026, 3, 9, 11, tzinfo=UTC)) == (1, 4)


def test_many_answers_on_one_day_count_once():
    times = [datetime(2026, 3, 2, h, tzinfo=UTC) for h in range(0, 24, 2)]
    assert streaks(times, "UTC", datetime(2026, 3, 2, 23, tzinfo=UTC)) == (1, 1)
