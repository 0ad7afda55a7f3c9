"""`eval`: the metrics, the dataset checks, and the command end to end on the real model."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.core.evaluation import (
    DatasetError,
    accuracy,
    fit_threshold,
    macro_f1,
    pearson,
    ranks,
    read_dataset,
    spearman,
)

FIXTURE = Path(__file__).parent / "fixtures" / "asag_excerpt.csv"


# metrics ------------------------------------------------------------------------------
def test_pearson_and_spearman_on_small_arrays():
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 2, 3, 4], [8, 6, 4, 2]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == pytest.approx(1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) == 0.0


def test_ties_share_their_average_rank():
    assert list(ranks([10, 20, 20, 30])) == [1, 2.5, 2.5, 4]


def test_accuracy_and_macro_f1():
    gold = [True, True, False, False]
    assert accuracy(gold, [True, False, False, False]) == 0.75
    # F1(correct) = 2/3, F1(incorrect) = 0.8
    assert macro_f1(gold, [True, False, False, False]) == pytest.approx((2 / 3 + 0.8) / 2)
    assert macro_f1(gold, gold) == 1.0


def test_the_pass_mark_separates_the_fit_data_best():
    assert fit_threshold([10, 20, 60, 80], [False, False, True, True]) == 60
    assert fit_threshold([10, 70, 60, 80], [False, False, True, True]) == 60


# dataset checks ------------------------------------------------------------------------
def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("header, row, message", [
    (["question", "student_answer", "score"], ["q", "a", "1"], "reference_answer"),
    (["question", "reference_answer", "student_answer"], ["q", "r", "a"], "no gold column"),
    (["question", "reference_answer", "student_answer", "score"], ["q", "r", "a", "high"],
     "not a number"),
    (["question", "reference_answer", "student_answer", "label_2way"], ["q", "r", "a", "meh"],
     "correct or incorrect"),
])
def test_a_malformed_dataset_is_refused_with_the_reason(tmp_path, header, row, message):
    with pytest.raises(DatasetError, match=message):
        read_dataset(write(tmp_path / "d.csv", header, [row]))


def test_the_excerpt_reads_as_a_label_dataset():
    data = read_dataset(FIXTURE)
    assert data.gold == "label_2way" and len(data.rows) == 40
    assert data.targets.sum() == 20


# the command ---------------------------------------------------------------------------
@pytest.fixture
def run_eval(embedder, judge, monkeypatch, capsys):
    from bot.cli import evaluate
    from bot.core.scoring import Grader

    # The command's own grader, built on the session's model and judge (loaded once).
    monkeypatch.setattr(evaluate, "_grader", lambda settings, corpus: Grader(
        embedder, judge=judge, bank=corpus or ()))

    def run(*argv: str) -> tuple[int, str, str]:
        args = build_parser().parse_args(["eval", *argv])
        code = args.run(args)
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def test_label_dataset_reports_accuracy_and_macro_f1_and_writes_predictions(
        run_eval, tmp_path):
    with FIXTURE.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    header = list(rows[0])
    # Alternate rows: the same four questions, different answers in each file.
    fit = write(tmp_path / "fit.csv", header, [list(r.values()) for r in rows[1::2]])
    test = write(tmp_path / "test.csv", header, [list(r.values()) for r in rows[::2]])
    out_path = tmp_path / "pred.csv"
    code, out, err = run_eval("--dataset", str(test), "--fit", str(fit),
                              "--predictions", str(out_path))
    assert code == 0, err
    assert "accuracy: " in out and "macro-F1: " in out
    mark = float(out.split("pass mark: ")[1].split()[0])
    assert "test.csv" in err  # the progress bar names the file it works on
    with out_path.open(newline="") as handle:
        predicted = list(csv.DictReader(handle))
    assert len(predicted) == 20
    assert list(predicted[0]) == header + ["predicted_score", "band", "predicted_label"]
    for source, row in zip(rows[::2], predicted, strict=True):
        assert {k: row[k] for k in header} == source
        score = int(row["predicted_score"])
        assert 0 <= score <= 100
        assert row["band"] in ("strong", "partial", "weak", "off-topic")
        assert row["predicted_label"] == ("correct" if score >= mark else "incorrect")
    # 20 answers are too few for a stable F1 (the benchmark is in docs/scoring.md), but the
    # grades must clearly separate the human labels.
    right = [int(r["predicted_score"]) for r in predicted if r["label_2way"] == "correct"]
    wrong = [int(r["predicted_score"]) for r in predicted if r["label_2way"] == "incorrect"]
    assert sum(right) / len(right) >= sum(wrong) / len(wrong) + 15


def test_a_label_dataset_needs_a_separate_fit_file(run_eval):
    code, _, err = run_eval("--dataset", str(FIXTURE))
    assert code == 2 and "--fit" in err
    code, _, err = run_eval("--dataset", str(FIXTURE), "--fit", str(FIXTURE))
    assert code == 2 and "same file" in err


def test_a_missing_file_is_a_clean_error(run_eval, tmp_path):
    code, _, err = run_eval("--dataset", str(tmp_path / "nope.csv"))
    assert code == 1 and "cannot read" in err


def test_score_dataset_reports_correlations_and_uses_key_points(run_eval, tmp_path):
    q = "How would you protect sensitive training data in an S3 bucket?"
    ref = ("Encrypt the data at rest with KMS, enforce TLS in transit, give the SageMaker role "
           "least-privilege access, block public access and enable versioning.")
    points = ("Encrypt the data at rest with KMS; Enforce TLS in transit; Give the SageMaker "
              "role least-privilege access; Block public access; Enable versioning")
    answers = [
        ("Encrypt with KMS at rest and force TLS, least-privilege role for SageMaker, block "
         "public access and turn on versioning.", "5"),
        ("Encrypt it with KMS and block public access.", "3"),
        ("Use a bigger instance type and more epochs.", "0"),
        ("I would enable versioning on the bucket so we can recover objects.", "1"),
        ("Never encrypt the bucket.", "0"),
    ]
    path = write(tmp_path / "scored.csv",
                 ["question", "reference_answer", "student_answer", "key_points", "score"],
                 [[q, ref, a, points, s] for a, s in answers])
    out_path = tmp_path / "pred.csv"
    code, out, err = run_eval("--dataset", str(path), "--predictions", str(out_path),
                              "--no-progress")
    assert code == 0, err
    assert float(out.split("spearman: ")[1].split()[0]) >= 0.8
    assert "pearson: " in out
    with out_path.open(newline="") as handle:
        header = next(csv.reader(handle))
    assert header == ["question", "reference_answer", "student_answer", "key_points", "score",
                      "predicted_score", "band"]


def test_the_rubric_report_counts_what_an_examiner_checks():
    from bot.core import grade as g
    from bot.core.evaluation import rubric_report

    points = "Encrypt with KMS;Block public access"
    rows = [dict(question_id="q", grade=str(k), kind=kind, key_points=points,
                 points_made=made, points_contradicted=against)
            for k, kind, made, against in [(5, "honest", "1;2", ""), (3, "honest", "1", ""),
                                           (1, "negated", "", "2"), (0, "off-topic", "", "")]]
    grades = [g.Grade(90, g.STRONG, covered=("Encrypt with KMS", "Block public access")),
              g.Grade(50, g.PARTIAL, covered=("Encrypt with KMS",)),
              g.Grade(55, g.PARTIAL, covered=("Block public access",)),  # ticks a point it denies
              g.Grade(5, g.OFF_TOPIC)]
    report = rubric_report(rows, grades)
    assert report["spearman"] == pytest.approx(0.8)
    assert report["grade 0-1 in partial or strong"] == 1
    assert report["grade 3+ called off-topic"] == 0
    assert report["grade 5 strong"] == (1, 1)
    assert report["adversarial below the grade-3 median"] == (0, 1)
    assert report["contradicted points ticked"] == 1
    assert report["point verdicts agreeing"] == (7, 8)  # only the denied point disagrees
    assert report["mean score by kind"] == {"honest": 70.0, "negated": 55.0, "off-topic": 5.0}
    assert report["strong or partial by kind"] == {"honest": 2, "negated": 1, "off-topic": 0}
