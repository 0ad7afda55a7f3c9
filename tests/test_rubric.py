"""The rubric's pure parts: windows, the 0-5 grade from point verdicts, scores inside each
grade, topicality, and per-point verdicts from a judge's probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from bot.core import grade as g
from bot.core import rubric
from bot.core.rubric import RANGES, PointVerdicts, Thresholds
from bot.core.scoring import rubric_verdict


@pytest.mark.parametrize("made, total, contradicted, grade", [
    (5, 5, 0, 5), (4, 5, 0, 4), (3, 5, 0, 3), (1, 5, 0, 3), (0, 5, 0, 2),
    (3, 3, 0, 5), (2, 3, 0, 4), (1, 3, 0, 3), (5, 5, 1, 1), (0, 4, 2, 1),
])
def test_the_rubric_grade_follows_the_points(made, total, contradicted, grade):
    assert rubric.rubric_grade(made, total, contradicted) == grade


def test_more_points_made_never_gives_a_lower_grade():
    for total in range(3, 7):
        grades = [rubric.rubric_grade(m, total, 0) for m in range(total + 1)]
        assert grades == sorted(grades)


def test_scores_of_a_higher_grade_are_all_higher():
    for grade in range(5):
        assert rubric.score_in_grade(grade, 1.0) < rubric.score_in_grade(grade + 1, 0.0)
    assert rubric.score_in_grade(3, 2.0) == RANGES[3][1]
    assert rubric.score_in_grade(3, -1.0) == RANGES[3][0]


def test_windows_keep_a_short_answer_whole_and_overlap_a_long_one():
    short = "Turn on versioning. Encrypt with KMS."
    assert rubric.windows(short) == [short]
    sentences = [f"Sentence number {n} says something about the model bucket." for n in range(40)]
    parts = rubric.windows(" ".join(sentences), limit=30)
    assert len(parts) > 3
    for before, after in zip(parts, parts[1:], strict=False):
        assert before.split(". ")[-1].rstrip(".") in after  # one sentence of overlap
    assert parts[-1].endswith(sentences[-1])


def test_topicality_is_decided_by_closeness_not_by_score():
    t = Thresholds(on_topic=0.45, off_topic=0.2, closer_elsewhere=0.1)
    assert rubric.topicality(0.5, 0.9, t)  # clearly about this question
    assert not rubric.topicality(0.1, 0.0, t)  # about nothing here
    assert not rubric.topicality(0.35, 0.6, t)  # much closer to another question
    assert rubric.topicality(0.35, 0.4, t)


class FakeJudge:
    """Entails a point when the answer contains its first word, contradicts it when the
    answer says 'never' before that word."""

    def predict(self, pairs):
        rows = []
        for premise, point in pairs:
            word = point.split()[0].lower()
            text = premise.lower()
            if f"never {word}" in text:
                rows.append([0.9, 0.05, 0.05])
            elif word in text:
                rows.append([0.05, 0.9, 0.05])
            else:
                rows.append([0.05, 0.05, 0.9])
        return np.array(rows, dtype=np.float32)


def test_point_verdicts_come_from_the_judge_and_a_contradiction_is_never_made():
    points = ("Versioning keeps old models", "Encryption protects data", "Replication copies")
    verdicts = rubric.judge_points(FakeJudge(), "Use versioning, never encryption.", points)
    t = Thresholds()
    assert verdicts.contradicted(t) == [1]
    assert verdicts.made(t) == [0]


def test_a_point_both_entailed_and_contradicted_counts_as_contradicted():
    verdicts = PointVerdicts(entail=np.array([0.9]), contradict=np.array([0.8]))
    t = Thresholds()
    assert verdicts.contradicted(t) == [0] and verdicts.made(t) == []


def test_a_point_the_judge_misses_is_made_when_a_clause_is_close_enough():
    verdicts = PointVerdicts(entail=np.array([0.1, 0.1]), contradict=np.array([0.0, 0.0]),
                             similarity=np.array([0.8, 0.5]))
    assert verdicts.made(Thresholds(made=0.5, sim_made=0.7)) == [0]
    assert verdicts.made(Thresholds(made=0.5, sim_made=1.01)) == []  # 1.01 turns it off


def test_a_clause_that_negates_a_point_contradicts_it_whatever_the_judge_says():
    verdicts = PointVerdicts(entail=np.array([0.9, 0.9]), contradict=np.array([0.0, 0.0]),
                             similarity=np.array([0.9, 0.9]), negated=frozenset({1}))
    t = Thresholds(made=0.5, sim_made=0.7)
    assert verdicts.contradicted(t) == [1]
    assert verdicts.made(t) == [0]


def test_contradiction_must_outweigh_entailment_by_the_fitted_share():
    verdicts = PointVerdicts(entail=np.array([0.8, 0.2]), contradict=np.array([0.6, 0.6]))
    assert verdicts.contradicted(Thresholds(contradicted=0.5, contra_vs_entail=1.0)) == [1]
    assert verdicts.contradicted(Thresholds(contradicted=0.5, contra_vs_entail=0.5)) == [0, 1]


@pytest.mark.parametrize("tiny, too_short, flag, grade_band", [
    (True, True, g.TOO_SHORT, g.WEAK),  # "Use spot instances.": too short though it names a point
    (False, True, None, g.PARTIAL),  # short for the question, but it makes a point
    (False, False, None, g.PARTIAL),
])
def test_a_few_words_are_too_short_whatever_point_they_name(tiny, too_short, flag, grade_band):
    verdicts = PointVerdicts(entail=np.array([0.9, 0.1, 0.1]), contradict=np.zeros(3))
    evidence = rubric.Evidence(sim_this=0.8, sim_elsewhere=0.2, verdicts=verdicts,
                               too_short=too_short, tiny=tiny)
    result = rubric_verdict(evidence, ("a", "b", "c"), Thresholds())
    assert (result.flag, result.band) == (flag, grade_band)
    assert result.covered == (() if tiny else ("a",))


def test_an_answer_far_from_the_question_is_off_topic_whatever_the_judge_reads_into_it():
    # "I like pizza ..." once earned a point from a judge that entailed it at .3.
    verdicts = PointVerdicts(entail=np.array([0.9, 0.1]), contradict=np.zeros(2))
    t = Thresholds(off_topic=0.2, on_topic=0.5)
    far = rubric.Evidence(sim_this=0.1, sim_elsewhere=0.1, verdicts=verdicts)
    near = rubric.Evidence(sim_this=0.3, sim_elsewhere=0.6, verdicts=verdicts)
    assert rubric_verdict(far, ("a", "b"), t).band == g.OFF_TOPIC
    # Closer, the point the judge found puts it on topic even if another question is closer.
    assert rubric_verdict(near, ("a", "b"), t).band == g.PARTIAL


class RecordingJudge(FakeJudge):
    def __init__(self):
        self.read: list[tuple[str, str]] = []

    def predict(self, pairs):
        self.read += list(pairs)
        return super().predict(pairs)


def test_the_judge_reads_only_the_points_the_answer_comes_near():
    points = ("Versioning keeps old models", "Encryption protects data", "Replication copies")
    judge = RecordingJudge()
    near = np.array([0.6, 0.5, 0.1])
    verdicts = rubric.judge_points(judge, "Use versioning, never encryption.", points,
                                   similarity=near, judge_from=0.35)
    assert [point for _, point in judge.read] == list(points[:2])
    assert verdicts.entail[2] == 0 and verdicts.contradict[2] == 0
    t = Thresholds(judge_from=0.35)
    assert verdicts.contradicted(t) == [1] and verdicts.made(t) == [0]


def test_skipping_a_far_point_gives_the_verdict_of_reading_it_and_ignoring_it():
    # fit_rubric.py fits judge_from on evidence where the judge read every point: `within`
    # must turn that evidence into exactly what the skipping judge returns.
    points = ("Versioning keeps old models", "Encryption protects data", "Replication copies")
    answer = "Use versioning and replication, never encryption."
    near = np.array([0.6, 0.2, 0.3])
    t = Thresholds(judge_from=0.35)
    full = rubric.judge_points(FakeJudge(), answer, points, similarity=near)
    skipped = rubric.judge_points(FakeJudge(), answer, points, similarity=near, judge_from=0.35)
    assert full.made(Thresholds()) == [0, 2]  # the judge would credit replication ...
    assert np.array_equal(full.within(t).entail, skipped.entail)
    assert np.array_equal(full.within(t).contradict, skipped.contradict)
    evidence = [rubric.Evidence(sim_this=0.8, sim_elsewhere=0.2, verdicts=v)
                for v in (full, skipped)]
    graded = [rubric_verdict(e, points, t) for e in evidence]
    assert graded[0] == graded[1]
    assert graded[0].covered == (points[0],)  # ... but it is too far to be read
