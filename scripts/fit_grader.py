"""Fit the learned grader (bot/grader.json) on human-graded answers.

    .venv/bin/python scripts/fit_grader.py \
        ../shared/asag/semeval2013/semeval_beetle_train.csv \
        ../shared/asag/semeval2013/semeval_scientsbank_train.csv

Only ever pass training files: the unseen_* SemEval splits are for `python -m bot eval`.
Each row's features are taken against the reference answer it is closest to (by mean key
point similarity, which does not look at the label); gradient-boosted trees are fitted on
label_2way and written as plain JSON that bot.core.learned evaluates without scikit-learn.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
from tqdm import tqdm

from bot.core.evaluation import alternatives, key_points, read_dataset
from bot.core.features import FEATURES
from bot.core.learned import DEFAULT_MODEL
from bot.core.scoring import Grader
from bot.embeddings import Embedder

PARAMS = dict(n_estimators=150, max_depth=3, learning_rate=0.05, subsample=0.8,
              random_state=0)


def features(grader: Grader, path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = read_dataset(path)
    if data.gold != "label_2way":
        raise SystemExit(f"{path}: fitting needs label_2way")
    rows, vectors = data.rows, []
    mean = FEATURES.index("point_mean")
    for start in range(0, len(rows), 512):
        chunk = rows[start:start + 512]
        with grader.prefetched([r["student_answer"] for r in chunk]):
            for row in tqdm(chunk, desc=path.name, leave=False):
                found = grader.analyses(row["question"], row["reference_answer"],
                                        row["student_answer"], key_points(row),
                                        alternatives(row))
                vectors.append(max(found, key=lambda a: a.vector[mean]).vector)
    return np.array(vectors), data.targets


def tree_json(estimator, digits: int | None = 6) -> dict:
    """One fitted regression tree of a boosted model as plain JSON lists (a leaf has -1
    children); `digits=None` keeps the floats exact. Read back by bot.core.learned and
    bot.core.point_model."""
    t = estimator.tree_

    def number(v) -> float:
        return float(v) if digits is None else round(float(v), digits)

    return {"left": t.children_left.tolist(), "right": t.children_right.tolist(),
            "feature": [max(0, int(f)) for f in t.feature],
            "threshold": [number(v) for v in t.threshold],
            "value": [number(v) for v in t.value[:, 0, 0]]}


def export(model: GradientBoostingClassifier, meta: dict) -> dict:
    trees = [tree_json(estimator) for (estimator,) in model.estimators_]
    prior = float(model.init_.class_prior_[1])
    return {"kind": "gradient-boosted trees, log loss", "features": list(FEATURES),
            "init": float(np.log(prior / (1 - prior))),
            "learning_rate": model.learning_rate, "trees": trees, "meta": meta}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", nargs="+", type=Path, help="training CSV file(s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    if any("unseen" in p.name for p in args.train):
        print("refusing to fit on an unseen_* test split", file=sys.stderr)
        return 2
    embedder = Embedder(cache_path="fit.embcache")
    grader = Grader(embedder)
    parts = [features(grader, path) for path in args.train]
    x = np.vstack([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    model = GradientBoostingClassifier(**PARAMS).fit(x, y)
    meta = {"trained_on": [p.name for p in args.train], "rows": int(len(y)),
            "params": PARAMS, "script": "scripts/fit_grader.py"}
    exported = export(model, meta)
    # The exported trees must agree with scikit-learn before they ship.
    from bot.core.learned import LearnedGrader
    args.out.write_text(json.dumps(exported, separators=(",", ":")) + "\n", encoding="utf-8")
    ours = LearnedGrader.load(args.out)
    theirs = model.predict_proba(x[:200])[:, 1]
    mine = np.array([ours.probability(row) for row in x[:200]])
    assert np.allclose(theirs, mine, atol=1e-4), "exported trees disagree with scikit-learn"
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB) from {len(y)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
