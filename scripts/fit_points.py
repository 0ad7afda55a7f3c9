"""Fit the point model (bot/points.json) on out-of-fold evidence of the graded answers.

    .venv/bin/python scripts/fit_points.py --evidence /tmp/oof864.pkl \
        --dataset eval/dev/aws-fit.csv eval/dev/aws-train-*.csv \
        --leave-out eval/dev/aws-train-{5,6,7,8}.csv

`--evidence` is the pickle `fit_rubric.py --fold-models F0 F1 --evidence F` writes for the same
`--dataset` files in the same order: every answer read by the fold judge that never saw its
question (docs/scoring.md, "Thresholds"). The trees learn each key point's verdict (the marks
of the dev set: made, contradicted or neither) from the judge's numbers around it
(bot/core/point_model.py). `contradicted`, the probability at which the trees' contradiction
joins the thresholds', is chosen by `fit_rubric.py`'s objective on predictions out of fold
(five folds by question), so it is chosen on answers the trees did not see either. The
thresholds (bot/rubric.json) are the shipped ones. Never fits on the checking part; rows of
`--leave-out` files are not fitted on (they measure the result: `fit_rubric.py --points`).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fit_grader import tree_json  # noqa: E402  (scripts/, beside this file)
from fit_rubric import measure  # noqa: E402

from bot.core.corpus import load_corpus  # noqa: E402
from bot.core.evaluation import point_numbers, read_dataset  # noqa: E402
from bot.core.point_model import (  # noqa: E402
    CLASSES,
    DEFAULT_MODEL,
    FEATURES,
    PointModel,
    combine,
    point_features,
)
from bot.core.rubric import Thresholds  # noqa: E402

PARAMS = dict(n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=0)
CANDIDATES = (0.5, 0.35, 0.25, 0.2, 0.18, 0.15, 0.12, 0.1, 0.08)
FOLDS = 5


def marks(row: dict, count: int) -> list[int]:
    """The dev set's marks of one answer as CLASSES indices, point by point."""
    made = {i - 1 for i in point_numbers(row["points_made"])}
    against = {i - 1 for i in point_numbers(row["points_contradicted"])}
    return [2 if i in against else 1 if i in made else 0 for i in range(count)]


class _Read:
    """Stands in for a PointModel with probabilities computed ahead (out of fold)."""

    def __init__(self, probabilities: dict[int, np.ndarray], contradicted: float, full):
        self.probabilities, self.contradicted, self.full = probabilities, contradicted, full

    def verdicts(self, evidence, t):
        p = self.probabilities.get(id(evidence))
        if p is None:  # a bank reference or a guard: the trees fitted on every answer
            p = self.full.predict_proba(point_features(evidence, t))
        return combine(evidence, t, p, self.contradicted)


def export(model, contradicted: float, meta: dict) -> dict:
    # Exact floats: the fit checks that the file reads as the trees to 1e-6.
    trees = [{"class": k, **tree_json(estimator, digits=None)}
             for stage in model.estimators_ for k, estimator in enumerate(stage)]
    prior = model.init_.class_prior_
    return {"kind": "gradient-boosted trees, multinomial log loss", "classes": list(CLASSES),
            "features": list(FEATURES), "init": [float(np.log(p)) for p in prior],
            "learning_rate": model.learning_rate, "depth": model.max_depth,
            "contradicted": contradicted, "trees": trees, "meta": meta}


def main() -> int:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.model_selection import GroupKFold

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidence", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, nargs="+", required=True)
    parser.add_argument("--leave-out", type=Path, nargs="*", default=[])
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    if any("check" in path.name for path in args.dataset):
        print("fit_points: never fit on the checking part", file=sys.stderr)
        return 2
    corpus = load_corpus()
    rows = [r for path in args.dataset for r in read_dataset(path, corpus).rows]
    evidence, points, references, guards = pickle.loads(args.evidence.read_bytes())
    if len(evidence) != len(rows):
        print(f"fit_points: {args.evidence} holds {len(evidence)} answers, the datasets "
              f"{len(rows)}: gather it with the same --dataset files", file=sys.stderr)
        return 2
    left = {r["question_id"] for path in args.leave_out for r in read_dataset(path, corpus).rows}
    t = Thresholds.load()
    keep = [i for i, r in enumerate(rows) if r["question_id"] not in left
            and evidence[i].verdicts is not None]
    x, y, owner, group = [], [], [], []
    for i in keep:
        features = point_features(evidence[i], t)
        x.append(features)
        y += marks(rows[i], len(features))
        owner += [i] * len(features)
        group += [rows[i]["question_id"]] * len(features)
    x, y, owner = np.vstack(x), np.array(y), np.array(owner)
    out_of_fold = np.zeros((len(y), len(CLASSES)))
    for train, test in GroupKFold(FOLDS).split(x, y, group):
        fold = GradientBoostingClassifier(**PARAMS).fit(x[train], y[train])
        out_of_fold[test] = fold.predict_proba(x[test])
    full = GradientBoostingClassifier(**PARAMS).fit(x, y)
    by_answer = {id(evidence[i]): out_of_fold[owner == i] for i in keep}
    fitting = [i for i, r in enumerate(rows) if r["question_id"] not in left]
    part = ([rows[i] for i in fitting], [evidence[i] for i in fitting],
            [points[i] for i in fitting], references, guards)
    base, _ = measure(t, *part)
    scored = {c: measure(t, *part, _Read(by_answer, c, full)) for c in CANDIDATES}
    for c, (value, report) in scored.items():
        print(f"contradicted {c}: objective {value:.3f}, spearman {report['spearman']:.3f}, "
              f"wrong in partial or strong {report['grade 0-1 in partial or strong']}, "
              f"points {report['point verdicts agreeing']}")
    chosen = max(CANDIDATES, key=lambda c: scored[c][0])
    print(f"thresholds alone: objective {base:.3f}; chosen: contradicted {chosen}")
    meta = {"command": " ".join(["scripts/fit_points.py"] + sys.argv[1:]),
            "answers": len(keep), "points": len(y), "params": PARAMS,
            "objective_out_of_fold": round(scored[chosen][0], 3),
            "objective_thresholds_alone": round(base, 3)}
    data = export(full, chosen, meta)
    args.out.write_text(json.dumps(data) + "\n")
    # The JSON must read exactly as the trees it came from.
    exported = PointModel.load(args.out)
    worst = float(np.abs(exported.probabilities(x) - full.predict_proba(x)).max())
    if worst > 1e-6:
        raise SystemExit(f"the exported trees differ from the fitted ones by {worst}")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB); export matches to {worst:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
