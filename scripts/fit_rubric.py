"""Fit the rubric's thresholds (bot/rubric.json) on the dev set's fitting part only.

The models' evidence for each answer is computed once; then the thresholds are searched
coordinate by coordinate for the best agreement with the human marks: per-point verdicts,
rank correlation with the 0-5 grades, and the rubric's hard rules (a wrong answer never
partial or strong, a correct one never off-topic, adversarial answers below the median
grade-3 answer, grade-5 answers strong).

    .venv/bin/python scripts/fit_rubric.py                 # writes bot/rubric.json
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.corpus import load_corpus  # noqa: E402
from bot.core.evaluation import read_dataset, rubric_report  # noqa: E402
from bot.core.markup import clean  # noqa: E402
from bot.core.rubric import THRESHOLDS_FILE, Thresholds  # noqa: E402
from bot.core.scoring import Grader, rubric_verdict  # noqa: E402

GRID = {
    "made": np.arange(0.2, 0.96, 0.05),
    "contradicted": np.arange(0.05, 0.96, 0.025),
    "contra_vs_entail": np.array([0.0, 0.1, 0.25, 0.5]),
    "on_topic": np.arange(0.25, 0.66, 0.05),
    "off_topic": np.arange(0.05, 0.31, 0.05),
    "closer_elsewhere": np.arange(-0.05, 0.21, 0.05),
}


def objective(report: dict) -> float:
    """Higher is better: correlation and point agreement, each broken hard rule a penalty."""
    agree, total = report["point verdicts agreeing"]
    strong, fives = report["grade 5 strong"]
    below, adversarial = report["adversarial below the grade-3 median"]
    counts = report["answers by grade"]
    wrong = counts.get(0, 0) + counts.get(1, 0)
    correct = sum(n for k, n in counts.items() if k >= 3)
    return (report["spearman"] + agree / total
            + 0.5 * min(0.8, strong / max(fives, 1)) + 0.5 * below / max(adversarial, 1)
            - 1.0 * report["grade 0-1 in partial or strong"] / max(wrong, 1)
            - 2.0 * report["grade 3+ called off-topic"] / max(correct, 1)
            - 0.5 * report["contradicted points ticked"] / total)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=ROOT / "eval" / "dev" / "aws-fit.csv")
    parser.add_argument("--model", type=Path, help="the entailment model folder "
                        "(default: the shipped one)")
    parser.add_argument("--out", type=Path, default=THRESHOLDS_FILE)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if "check" in args.dataset.name:
        print("fit_rubric: never fit on the checking part", file=sys.stderr)
        return 2

    from bot.embeddings import Embedder
    from bot.nli import MODEL_DIR, EntailmentModel

    corpus = load_corpus()
    data = read_dataset(args.dataset, corpus)
    grader = Grader(Embedder(), judge=EntailmentModel(args.model or MODEL_DIR), bank=corpus)
    evidence, points = [], []
    with grader.prefetched([r["student_answer"] for r in data.rows]):
        for row in data.rows:
            ref = grader.reference(row["question"], row["reference_answer"],
                                   row["key_points"].split(";"))
            evidence.append(grader.rubric_evidence(clean(row["student_answer"]) or "-", ref))
            points.append(ref.points)

    def score(t: Thresholds) -> tuple[float, dict]:
        grades = [rubric_verdict(e, p, t) for e, p in zip(evidence, points, strict=True)]
        report = rubric_report(data.rows, grades)
        return objective(report), report

    best = Thresholds()
    best_value, best_report = score(best)
    for _ in range(args.rounds):
        for pair in (("made", "contradicted", "contra_vs_entail"),
                     ("on_topic", "off_topic", "closer_elsewhere")):
            for values in itertools.product(*(GRID[name] for name in pair)):
                candidate = dataclasses.replace(
                    best, **{n: round(float(v), 2) for n, v in zip(pair, values, strict=True)})
                value, report = score(candidate)
                if value > best_value + 1e-9:
                    best, best_value, best_report = candidate, value, report
    args.out.write_text(json.dumps(dataclasses.asdict(best), indent=2) + "\n")
    print(json.dumps(dataclasses.asdict(best), indent=2))
    for name, value in best_report.items():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
