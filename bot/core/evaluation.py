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
CORRECT, INCORRECT = "correct", "incorrect"


class DatasetError(ValueError):
    """The file cannot be evaluated; the message says why, naming the file and column."""


@dataclass(frozen=True)
class Dataset:
    path: Path
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    gold: str  # "score" or "label_2way"

    @property
    def targets(self) -> np.ndarray:
        if self.gold == "score":
            return np.array([float(r["score"]) for r in self.rows])
        return np.array([r["label_2way"].strip().lower() == CORRECT for r in self.rows])


def read_dataset(path: str | Path) -> Dataset:
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
