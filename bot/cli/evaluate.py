"""`eval --dataset FILE.csv [--fit TRAIN.csv] [--predictions OUT.csv]`: compare the grader
with human grades.

A numeric `score` column is compared by Pearson and Spearman correlation; a `label_2way`
column (correct/incorrect) by accuracy and macro-F1, with the pass mark fitted on --fit
(never on the evaluated file). See docs/scoring.md.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from bot.config import Settings
from bot.core.evaluation import (
    CORRECT,
    INCORRECT,
    DatasetError,
    accuracy,
    fit_threshold,
    grade_rows,
    macro_f1,
    pearson,
    read_dataset,
    rubric_report,
    spearman,
)


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--dataset", required=True, type=Path,
                        help="CSV with question, reference_answer, student_answer and a gold "
                             "column (score, or label_2way); optional key_points "
                             "(';'-separated) and reference_answers_all (JSON list)")
    parser.add_argument("--fit", type=Path,
                        help="a training CSV with label_2way, used only to fit the pass mark "
                             "(needed for label_2way datasets)")
    parser.add_argument("--predictions", type=Path,
                        help="write every input row with predicted_score, band (and "
                             "predicted_label) added")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        corpus = _corpus(settings, args.dataset)
        data = read_dataset(args.dataset, corpus)
        train = read_dataset(args.fit, corpus) if args.fit else None
    except DatasetError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return 1
    if data.gold == "label_2way" and train is None:
        print("eval: a label_2way dataset needs --fit TRAIN.csv to fit the pass mark "
              "(it is never fitted on the file being evaluated)", file=sys.stderr)
        return 2
    if train is not None and train.gold != "label_2way":
        print(f"eval: --fit {args.fit} needs a label_2way column", file=sys.stderr)
        return 2
    if train is not None and train.path.resolve() == data.path.resolve():
        print("eval: --fit and --dataset are the same file; fit on training data only",
              file=sys.stderr)
        return 2

    grader = _grader(settings, corpus)
    threshold = None
    if train is not None:
        fit_grades = grade_rows(grader, train.rows, _progress(args, f"fit {train.path.name}"))
        threshold = fit_threshold([x.score for x in fit_grades], train.targets)
    grades = grade_rows(grader, data.rows, _progress(args, data.path.name))
    scores = [x.score for x in grades]

    print(f"dataset: {data.path} ({len(data.rows)} answers)")
    if data.gold == "grade":
        _print_rubric(rubric_report(data.rows, grades))
    if data.gold == "score":
        print(f"pearson: {pearson(scores, data.targets):.3f}")
        print(f"spearman: {spearman(scores, data.targets):.3f}")
    if threshold is not None:
        predicted = [s >= threshold for s in scores]
        print(f"pass mark: {threshold:g} (fitted on {train.path.name}, "
              f"{len(train.rows)} answers)")
        if data.gold == "label_2way":
            print(f"accuracy: {accuracy(data.targets, predicted):.3f}")
            print(f"macro-F1: {macro_f1(data.targets, predicted):.3f}")
            majority = max(data.targets.mean(), 1 - data.targets.mean())
            print(f"majority-class accuracy: {majority:.3f}")
    flagged = {}
    for x in grades:
        if x.flag:
            flagged[x.flag] = flagged.get(x.flag, 0) + 1
    if flagged:
        print("flags: " + ", ".join(f"{k} {v}" for k, v in sorted(flagged.items())))
    if args.predictions:
        _write(args.predictions, data, grades, threshold)
        print(f"predictions: {args.predictions}")
    return 0


def _corpus(settings: Settings, dataset: Path):
    """The bank, for a rubric set that names its questions by id (None otherwise)."""
    try:
        with dataset.open(encoding="utf-8") as handle:
            header = handle.readline()
    except OSError:
        return None  # read_dataset reports it
    if "question_id" not in header.split(","):
        return None
    from bot.core.corpus import load_corpus

    return load_corpus(settings.corpus_path)


def _grader(settings: Settings, corpus):
    # Imported here: the command table must not load the model to print --help.
    from bot.config import cores
    from bot.core.scoring import Grader
    from bot.embeddings import Embedder
    from bot.nli import EntailmentModel

    # Topicality compares each answer with the whole bank. One answer at a time, so the
    # judge's pairs may take every core (the same probabilities as on one, bot/nli.py).
    return Grader(Embedder(settings.model), judge=EntailmentModel(threads=cores()),
                  bank=corpus or ())


def _print_rubric(report: dict) -> None:
    for name, value in report.items():
        if isinstance(value, tuple):
            done, total = value
            value = f"{done} of {total} ({done / total:.0%})" if total else "0 of 0"
        elif isinstance(value, float):
            value = f"{value:.3f}"
        print(f"{name}: {value}")


def _progress(args: argparse.Namespace, label: str):
    if args.no_progress:
        return iter
    from tqdm import tqdm

    return lambda rows: tqdm(rows, desc=label, unit="answer", leave=False, mininterval=0.5)


def _write(path: Path, data, grades, threshold: float | None) -> None:
    extra = ["predicted_score", "band"]
    if data.gold == "label_2way" and threshold is not None:
        extra.append("predicted_label")
    columns = list(data.columns) + [c for c in extra if c not in data.columns]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row, x in zip(data.rows, grades, strict=True):
            out = dict(row, predicted_score=x.score, band=x.band)
            if "predicted_label" in extra:
                out["predicted_label"] = CORRECT if x.score >= threshold else INCORRECT
            writer.writerow(out)
