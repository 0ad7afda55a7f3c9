"""The leaderboard cannot be farmed, resets on Monday in the workspace zone, breaks ties fairly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.leaderboard import PARTICIPATION_POINTS, standings, week_end, week_start

T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
LA = ZoneInfo("America/Los_Angeles")


def row(person, question, score, minutes=0, daily=None, start=T0):
    return {"person_id": person, "question_id": question, "score": score, "daily_id": daily,
            "created_at": (start + timedelta(minutes=minutes)).isoformat()}


def points(rows):
    return {s.person_id: s.points for s in standings(rows)}


def test_repeating_a_question_adds_nothing():
    once = [row("ada", "q1", 80)]
    farmed = once + [row("ada", "q1", 80, minutes=m) for m in range(1, 50)]
    assert points(farmed) == points(once) == {"ada": 80}


def test_a_better_score_on_the_same_question_counts_only_the_improvement():
    assert points([row("ada", "q1", 40), row("ada", "q1", 90, 1), row("ada", "q1", 60, 2)]) \
        == {"ada": 90}


def test_each_question_counts_once_with_its_best_score():
    assert points([row("ada", "q1", 70), row("ada", "q2", 50), row("ada", "q1", 20, 3)]) \
        == {"ada": 120}


def test_daily_participation_counts_once_per_post():
    rows = [row("ada", "q1", 30, daily=1), row("ada", "q1", 30, 1, daily=1),
            row("ada", "q2", 0, 2, daily=2)]
    assert points(rows) == {"ada": 30 + 2 * PARTICIPATION_POINTS}


def test_a_wrong_daily_answer_still_earns_participation():
    assert points([row("bob", "q9", 0, daily=7)]) == {"bob": PARTICIPATION_POINTS}


def test_ties_go_to_whoever_got_there_first():
    rows = [row("bob", "q1", 50, 0), row("ada", "q1", 50, 1), row("ada", "q2", 10, 2),
            row("bob", "q2", 10, 3)]
    ranked = standings(rows)
    assert [(s.person_id, s.points) for s in ranked] == [("ada", 60), ("bob", 60)]


def test_a_repeat_does_not_move_the_time_a_total_was_reached():
    rows = [row("ada", "q1", 50, 0), row("bob", "q1", 50, 1), row("ada", "q1", 50, 2)]
    assert [s.person_id for s in standings(rows)] == ["ada", "bob"]


def test_an_unrelated_zero_still_lists_the_person():
    assert points([row("cat", "q1", 0)]) == {"cat": 0}


@pytest.mark.parametrize("now, expected", [
    # Monday 00:00 in Los Angeles (PDT, UTC-7) is 07:00 UTC on Monday: at 06:59 UTC Los
    # Angeles is still in Sunday, the old week.
    (datetime(2026, 3, 16, 6, 59, tzinfo=UTC), datetime(2026, 3, 9, 0, 0, tzinfo=LA)),
    (datetime(2026, 3, 16, 7, 0, tzinfo=UTC), datetime(2026, 3, 16, 0, 0, tzinfo=LA)),
    (datetime(2026, 3, 22, 23, 59, tzinfo=LA), datetime(2026, 3, 16, 0, 0, tzinfo=LA)),
])
def test_the_week_starts_on_monday_midnight_in_the_workspace_zone(now, expected):
    start = week_start(now, "America/Los_Angeles")
    assert start == expected
    assert start.astimezone(LA).weekday() == 0 and start.astimezone(LA).hour == 0


def test_the_week_boundary_across_the_daylight_saving_change():
    # 2026-03-08 is the spring-forward Sunday in Los Angeles; the week of 9 March starts at
    # 07:00 UTC (PDT), the week before at 08:00 UTC (PST).
    assert week_start(datetime(2026, 3, 10, tzinfo=UTC), "America/Los_Angeles") \
        .astimezone(UTC) == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
    assert week_start(datetime(2026, 3, 5, tzinfo=UTC), "America/Los_Angeles") \
        .astimezone(UTC) == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_a_week_ends_at_the_next_monday_midnight_even_across_a_dst_change():
    start = week_start(datetime(2026, 3, 5, tzinfo=UTC), "America/Los_Angeles")
    end = week_end(start)
    assert end == datetime(2026, 3, 9, 0, 0, tzinfo=LA)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=167)
