"""Mastery per exam domain and the readiness figure built from it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.core.corpus import Question
from bot.core.exam import blueprint


def domain_mastery(questions: Sequence[Question], best: Mapping[str, int],
                   exam: str) -> list[tuple[str, float, float, int, int]]:
    """(domain, weight, mastery 0-1, attempted, total) per blueprint domain, in blueprint order.

    Mastery is the mean over every question of the domain of the best score (0 when never
    answered): it grows with coverage and with quality alike."""
    rows = []
    for domain, weight in blueprint(exam).items():
        in_domain = [q for q in questions if q.exam_domain(exam) == domain]
        scores = [best.get(q.id, 0) / 100 for q in in_domain]
        attempted = sum(q.id in best for q in in_domain)
        mastery = sum(scores) / len(scores) if scores else 0.0
        rows.append((domain, weight, mastery, attempted, len(in_domain)))
    return rows


def readiness(rows: Sequence[tuple[str, float, float, int, int]]) -> float:
    """Sum over domains of weight x mastery (0-1): practice coverage, not a pass prediction."""
    return sum(weight * mastery for _, weight, mastery, _, _ in rows)
