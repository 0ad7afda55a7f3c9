"""A learned reading of each key point: made, contradicted or neither, from all the evidence.

The rubric's thresholds read one number at a time: entailment against `made`, contradiction
against `contradicted`. This model reads a point's numbers together (entailment,
contradiction, how close the answer's nearest clause comes, whether the word list found the
point negated) with the answer around it (how close it is to this question and to others, what
the judge says of its other points). Boosted trees fitted by scripts/fit_points.py on
out-of-fold evidence: each graded answer read by a judge trained without its question
(`train_nli.py --leave-out-fold`), so the trees learn how the judge reads new questions, not
the answers it was trained on. Stored as plain JSON (bot/points.json) and evaluated with numpy.

It adds contradictions and never removes one: a point the thresholds or the word list call
contradicted stays contradicted (a flat "never enable versioning" must be told it is wrong,
whatever the trees make of it), and a point the trees rate contradicted at `contradicted` or
more joins them. Of the rest, a point is made when the trees rate made above neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.core.rubric import Evidence, Thresholds

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "points.json"
CLASSES = ("neither", "made", "contradicted")
FEATURES = ("entail", "contradict", "similarity", "negated", "sim_this", "sim_elsewhere",
            "others_contradict_max", "others_entail_max", "others_entail_mean",
            "similarity_below_best", "points", "no_claim", "too_short")


def point_features(evidence: Evidence, t: Thresholds) -> np.ndarray:
    """One row of FEATURES per key point; the judge's numbers as the rubric reads them (a
    point below `judge_from` is not read: neither)."""
    v = evidence.verdicts.within(t)
    n = len(v.entail)
    similarity = (v.similarity if v.similarity is not None else np.zeros(n)).astype(float)
    rows = np.zeros((n, len(FEATURES)))
    for i in range(n):
        others_c, others_e = np.delete(v.contradict, i), np.delete(v.entail, i)
        rows[i] = (v.entail[i], v.contradict[i], similarity[i], float(i in v.negated),
                   evidence.sim_this, evidence.sim_elsewhere, others_c.max(initial=0.0),
                   others_e.max(initial=0.0), others_e.mean() if n > 1 else 0.0,
                   similarity[i] - similarity.max(), n, float(bool(evidence.no_claim)),
                   float(evidence.too_short))
    return rows


@dataclass(frozen=True)
class PointModel:
    """Multiclass boosted trees: softmax over CLASSES of init + rate * the class's leaves.

    The trees are packed into arrays (one row per tree, padded) so that every tree reads
    every point in a handful of numpy steps: an answer's points cost well under a
    millisecond, where walking 450 trees node by node in Python would cost several."""

    features: tuple[str, ...]
    init: np.ndarray  # (classes,)
    learning_rate: float
    contradicted: float  # P(contradicted) at which a point is contradicted
    tree_class: np.ndarray  # (trees,) the class each tree adds to
    left: np.ndarray  # (trees, nodes); -1 at a leaf
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    depth: int
    meta: dict

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL) -> PointModel:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES or tuple(data["classes"]) != CLASSES:
            raise ValueError(f"{path}: fitted on other features or classes than this code's")
        trees = data["trees"]
        width = max(len(t["left"]) for t in trees)

        def packed(key: str, fill, dtype) -> np.ndarray:
            out = np.full((len(trees), width), fill, dtype=dtype)
            for row, tree in enumerate(trees):
                out[row, :len(tree[key])] = tree[key]
            return out

        return cls(features=FEATURES, init=np.array(data["init"], dtype=float),
                   learning_rate=float(data["learning_rate"]),
                   contradicted=float(data["contradicted"]),
                   tree_class=np.array([t["class"] for t in trees], dtype=int),
                   left=packed("left", -1, int), right=packed("right", -1, int),
                   feature=packed("feature", 0, int), threshold=packed("threshold", 0.0, float),
                   value=packed("value", 0.0, float), depth=int(data["depth"]),
                   meta=data.get("meta", {}))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(points, features) -> (points, classes)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        trees = np.arange(len(self.tree_class))[:, None]
        node = np.zeros((len(self.tree_class), len(x)), dtype=int)
        for _ in range(self.depth):
            at_leaf = self.left[trees, node] == -1
            goes_left = x[np.arange(len(x))[None, :], self.feature[trees, node]] \
                <= self.threshold[trees, node]
            step = np.where(goes_left, self.left[trees, node], self.right[trees, node])
            node = np.where(at_leaf, node, step)
        leaves = self.value[trees, node]  # (trees, points)
        raw = np.tile(self.init, (len(x), 1))
        for k in range(len(CLASSES)):
            raw[:, k] += self.learning_rate * leaves[self.tree_class == k].sum(axis=0)
        raw -= raw.max(axis=1, keepdims=True)
        odds = np.exp(raw)
        return odds / odds.sum(axis=1, keepdims=True)

    def verdicts(self, evidence: Evidence, t: Thresholds) -> tuple[list[int], list[int]]:
        """(points made, points contradicted) of an answer the judge read."""
        return combine(evidence, t, self.probabilities(point_features(evidence, t)),
                       self.contradicted)


def combine(evidence: Evidence, t: Thresholds, p: np.ndarray, contradicted: float
            ) -> tuple[list[int], list[int]]:
    """The verdicts from the trees' probabilities `p` (points x CLASSES): the thresholds'
    and the word list's contradictions, and the trees' at `contradicted` or more (not in an
    answer that states nothing); made where the trees rate made above neither."""
    rule = set(evidence.verdicts.within(t).contradicted(t))
    # A few words ("Overfitting."), the question echoed back or a bare list of terms state
    # nothing to contradict: the rubric flags them for that, and only the thresholds and
    # the word list may still find a point negated in them.
    says_nothing = evidence.tiny or evidence.no_claim
    added = set() if says_nothing else {i for i in range(len(p)) if p[i, 2] >= contradicted}
    against = sorted(rule | added)
    made = [i for i in range(len(p)) if i not in against and p[i, 1] > p[i, 0]]
    return made, against


def load_default() -> PointModel | None:
    """The shipped model, or None when there is none (the thresholds alone decide)."""
    return PointModel.load() if DEFAULT_MODEL.exists() else None
