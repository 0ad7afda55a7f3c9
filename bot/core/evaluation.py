"""Comparing the grader with human grades: reading graded-answer CSVs and the metrics.

A dataset has the columns `question`, `reference_answer`, `student_answer`, optionally
`key_points` (';'-separated) and `reference_answers_all` (a JSON list of alternative
reference answers, as in SemEval-2013), and a gold column: numeric `score`, or `label_2way`
(correct / incorrect).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REQUIRED = ("question", "reference_answer", "student_answer")
# A rubric set (eval/dev/*.csv) names bank questions instead of spelling them out, and has
# the 0-5 rubric grade with the key points each answer makes and contradicts.
RUBRIC_REQUIRED = ("question_id", "student_answer", "grade", "points_made",
                   "points_contradicted")
ADVERSARIAL = ("negated", "retracted", "stuffing", "bare-list", "echo", "name-drop")
CORRECT, INCORRECT = "correct", "incorrect"


class DatasetError(ValueError):
    """The file cannot be evaluated; the message says why, naming the file and column."""


@dataclass(frozen=True)
class Dataset:
    path: Path
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    gold: str  # "score", "label_2way" or "grade" (a rubric set)

    @property
    def targets(self) -> np.ndarray:
        if self.gold == "grade":
            return np.array([float(r["grade"]) for r in self.rows])
        if self.gold == "score":
            return np.array([float(r["score"]) for r in self.rows])
        return np.array([r["label_2way"].strip().lower() == CORRECT for r in self.rows])


def read_dataset(path: str | Path, corpus=None) -> Dataset:
    """Read a graded-answer CSV. A rubric set's rows are completed from `corpus` (question,
    reference answer and key points of the bank item each row names)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = tuple(reader.fieldnames or ())
            rows = tuple(reader)
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path} is not a readable UTF-8 CSV file: {exc}") from None
    if "question_id" in columns and "question" not in columns:
        return _rubric_dataset(path, columns, rows, corpus)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DatasetError(f"{path} lacks the column(s) {', '.join(missing)}")
    if "score" in columns:
        gold = "score"
    elif "label_2way" in columns:
        gold = "label_2way"
    else:
        raise DatasetError(f"{path} has no gold column: add `score` (numeric) or "
                           "`label_2way` (correct/incorrect)")
    for number, row in enumerate(rows, start=2):
        value = (row.get(gold) or "").strip().lower()
        if gold == "score":
            try:
                float(value)
            except ValueError:
                raise DatasetError(f"{path}, line {number}: score {value!r} is not a number"
                                   ) from None
        elif value not in (CORRECT, INCORRECT):
            raise DatasetError(f"{path}, line {number}: label_2way must be correct or "
                               f"incorrect, not {value!r}")
    if not rows:
        raise DatasetError(f"{path} has no rows")
    return Dataset(path, columns, rows, gold)


def _rubric_dataset(path: Path, columns, rows, corpus) -> Dataset:
    missing = [c for c in RUBRIC_REQUIRED if c not in columns]
    if missing:
        raise DatasetError(f"{path} lacks the column(s) {', '.join(missing)}")
    if corpus is None:
        raise DatasetError(f"{path} names bank questions: it needs the question bank")
    completed = []
    for number, row in enumerate(rows, start=2):
        if row["question_id"] not in corpus:
            raise DatasetError(f"{path}, line {number}: no question {row['question_id']!r} "
                               "in the bank")
        if row["grade"].strip() not in ("0", "1", "2", "3", "4", "5"):
            raise DatasetError(f"{path}, line {number}: grade must be 0-5, not {row['grade']!r}")
        q = corpus.get(row["question_id"])
        completed.append(dict(row, question=q.prompt, reference_answer=q.reference_answer,
                              key_points=";".join(q.key_points)))
    if not completed:
        raise DatasetError(f"{path} has no rows")
    return Dataset(path, tuple(columns) + ("question", "reference_answer", "key_points"),
                   tuple(completed), "grade")


def point_numbers(cell: str) -> set[int]:
    """'1;3' -> {1, 3}: key points by their number, from 1."""
    return {int(x) for x in (cell or "").replace(",", ";").split(";") if x.strip().isdigit()}


def rubric_report(rows: Sequence[dict[str, str]], grades: Sequence) -> dict[str, object]:
    """How far the grader follows the human rubric grades: the checks of docs/scoring.md."""
    gold = np.array([int(r["grade"]) for r in rows])
    scores = np.array([x.score for x in grades], dtype=float)
    bands = [x.band for x in grades]
    report: dict[str, object] = {"answers": len(rows), "spearman": spearman(scores, gold)}
    report["answers by grade"] = {int(k): int((gold == k).sum()) for k in sorted(set(gold))}
    report["mean score by grade"] = {
        int(k): round(float(scores[gold == k].mean()), 1) for k in sorted(set(gold))}
    three = scores[gold == 3]
    median3 = float(np.median(three)) if len(three) else float("nan")
    adversarial = [(r, x) for r, x in zip(rows, grades, strict=True)
                   if r.get("kind") in ADVERSARIAL]
    report["median grade-3 score"] = median3
    report["adversarial below the grade-3 median"] = (
        sum(x.score < median3 for _, x in adversarial), len(adversarial))
    report["grade 0-1 in partial or strong"] = sum(
        1 for k, b in zip(gold, bands, strict=True) if k <= 1 and b in ("partial", "strong"))
    report["grade 3+ called off-topic"] = sum(
        1 for k, b in zip(gold, bands, strict=True) if k >= 3 and b == "off-topic")
    fives = [b for k, b in zip(gold, bands, strict=True) if k == 5]
    report["grade 5 strong"] = (sum(b == "strong" for b in fives), len(fives))
    agree = total = ticked_against = 0
    for row, x in zip(rows, grades, strict=True):
        points = row["key_points"].split(";")
        made, against = point_numbers(row["points_made"]), point_numbers(row["points_contradicted"])
        for n, point in enumerate(points, start=1):
            truth = "contradicted" if n in against else "made" if n in made else "missed"
            said = ("contradicted" if point in x.contradicted else
                    "made" if point in x.covered else "missed")
            agree += truth == said
            total += 1
            ticked_against += n in against and point in x.covered
    report["point verdicts agreeing"] = (agree, total)
    report["contradicted points ticked"] = ticked_against
    report["band order broken by points made"] = _band_inversions(rows, grades)
    kinds = sorted({r.get("kind", "") for r in rows} - {""})
    report["mean score by kind"] = {
        k: round(float(np.mean([x.score for r, x in zip(rows, grades, strict=True)
                                if r.get("kind") == k])), 1) for k in kinds}
    report["strong or partial by kind"] = {
        k: sum(1 for r, x in zip(rows, grades, strict=True)
               if r.get("kind") == k and x.band in ("strong", "partial")) for k in kinds}
    return report


BAND_RANK = {"off-topic": 0, "weak": 1, "partial": 2, "strong": 3}


def _band_inversions(rows, grades) -> int:
    """Pairs of answers to one question, neither contradicting a point, where the one that
    makes more key points lands in a lower band."""
    by_question: dict[str, list] = {}
    for row, x in zip(rows, grades, strict=True):
        if not x.contradicted:
            by_question.setdefault(row["question_id"], []).append(x)
    broken = 0
    for answers in by_question.values():
        for a in answers:
            for b in answers:
                if len(a.covered) > len(b.covered) and BAND_RANK[a.band] < BAND_RANK[b.band]:
                    broken += 1
    return broken


def key_points(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(p.strip() for p in (row.get("key_points") or "").split(";") if p.strip())


def alternatives(row: dict[str, str]) -> tuple[str, ...]:
    raw = (row.get("reference_answers_all") or "").strip()
    if not raw:
        return ()
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        return ()
    return tuple(str(v) for v in values) if isinstance(values, list) else ()


def grade_rows(grader, rows: Sequence[dict[str, str]],
               progress: Callable[[Iterable], Iterable] = iter, batch: int = 512) -> list:
    """Grade every row (answers encoded in batches); returns one Grade per row."""
    grades = []
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        with grader.prefetched([r["student_answer"] for r in chunk]):
            for row in progress(chunk):
                grades.append(grader.grade_open(row["question"], row["reference_answer"],
                                                row["student_answer"], key_points(row),
                                                alternatives(row)))
    return grades


# metrics -----------------------------------------------------------------------------
def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank."""
    values = np.asarray(values, dtype=float)
    order = values.argsort(kind="mergesort")
    out = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        out[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return out


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    return pearson(ranks(x), ranks(y))


def accuracy(gold: Sequence[bool], predicted: Sequence[bool]) -> float:
    gold, predicted = np.asarray(gold, dtype=bool), np.asarray(predicted, dtype=bool)
    return float((gold == predicted).mean())


def macro_f1(gold: Sequence[bool], predicted: Sequence[bool]) -> float:
    gold, predicted = np.asarray(gold, dtype=bool), np.asarray(predicted, dtype=bool)
    scores = []
    for positive in (True, False):
        tp = np.sum((predicted == positive) & (gold == positive))
        fp = np.sum((predicted == positive) & (gold != positive))
        fn = np.sum((predicted != positive) & (gold == positive))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def fit_threshold(scores: Sequence[float], gold: Sequence[bool]) -> float:
    """The pass mark (predicted correct when score >= it) with the best macro-F1; ties go
    to the lower mark."""
    scores = np.asarray(scores, dtype=float)
    best_f1, best = -1.0, 50.0
    for mark in np.unique(scores):
        f1 = macro_f1(gold, scores >= mark)
        if f1 > best_f1:
            best_f1, best = f1, float(mark)
    return best
