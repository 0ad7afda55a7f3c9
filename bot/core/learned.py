"""The learned grader at run time: a small boosted-tree model read from JSON, evaluated
with plain Python and numpy (scikit-learn is only needed to fit it; see scripts/fit_grader.py).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "grader.json"


@dataclass(frozen=True)
class Tree:
    left: tuple[int, ...]
    right: tuple[int, ...]
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    value: tuple[float, ...]

    def predict(self, x: np.ndarray) -> float:
        node = 0
        while self.left[node] != -1:
            node = self.left[node] if x[self.feature[node]] <= self.threshold[node] \
                else self.right[node]
        return self.value[node]


@dataclass(frozen=True)
class LearnedGrader:
    """p(correct) from the feature vector: sigmoid(init + rate * sum of tree leaves)."""

    features: tuple[str, ...]
    init: float
    learning_rate: float
    trees: tuple[Tree, ...]
    meta: dict

    @classmethod
    def load(cls, path: str | Path = DEFAULT_MODEL) -> LearnedGrader:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        trees = tuple(Tree(tuple(t["left"]), tuple(t["right"]), tuple(t["feature"]),
                           tuple(t["threshold"]), tuple(t["value"])) for t in data["trees"])
        return cls(tuple(data["features"]), float(data["init"]), float(data["learning_rate"]),
                   trees, data.get("meta", {}))

    def probability(self, x: np.ndarray) -> float:
        raw = self.init + self.learning_rate * sum(t.predict(x) for t in self.trees)
        return 1.0 / (1.0 + math.exp(-raw))
