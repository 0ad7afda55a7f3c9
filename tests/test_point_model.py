"""The point model's pure parts: its JSON reads exactly as the trees it was exported from, and
its verdicts only ever add contradictions to the thresholds' (bot/core/point_model.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.core.point_model import CLASSES, FEATURES, PointModel, combine, load_default
from bot.core.rubric import Evidence, PointVerdicts, Thresholds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


def evidence(entail, contradict, similarity, *, negated=(), tiny=False, no_claim=None):
    return Evidence(sim_this=0.8, sim_elsewhere=0.5, tiny=tiny, no_claim=no_claim,
                    verdicts=PointVerdicts(entail=np.array(entail), contradict=np.array(contradict),
                                           similarity=np.array(similarity),
                                           negated=frozenset(negated)))


def test_the_exported_trees_read_as_the_fitted_ones(tmp_path):
    from fit_points import export
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(7)
    x = rng.random((300, len(FEATURES)))
    # Three classes that depend on several features at once, as the real marks do.
    y = np.where(x[:, 1] > 0.7, 2, np.where(x[:, 0] + x[:, 2] > 1.0, 1, 0))
    fitted = GradientBoostingClassifier(n_estimators=20, max_depth=3, learning_rate=0.1,
                                        random_state=0).fit(x, y)
    path = tmp_path / "points.json"
    path.write_text(json.dumps(export(fitted, 0.3, {})))
    model = PointModel.load(path)
    fresh = rng.random((50, len(FEATURES)))
    assert np.abs(model.probabilities(fresh) - fitted.predict_proba(fresh)).max() < 1e-9
    assert model.contradicted == 0.3


def test_a_model_fitted_on_other_features_is_refused(tmp_path):
    path = tmp_path / "points.json"
    path.write_text('{"features": ["entail"], "classes": ["neither", "made", "contradicted"], '
                    '"trees": []}')
    with pytest.raises(ValueError, match="other features"):
        PointModel.load(path)


def test_the_trees_add_contradictions_and_never_remove_one():
    t = Thresholds(made=0.5, contradicted=0.8, judge_from=0.0)
    # Point 0: the judge's contradiction passes the threshold; point 1: only the trees call
    # it contradicted; point 2: made by the trees; point 3: neither.
    e = evidence([0.1, 0.3, 0.2, 0.1], [0.9, 0.4, 0.1, 0.1], [0.7, 0.7, 0.7, 0.3])
    p = np.array([[0.9, 0.1, 0.0], [0.3, 0.3, 0.4], [0.2, 0.7, 0.1], [0.8, 0.1, 0.1]])
    made, against = combine(e, t, p, contradicted=0.35)
    assert against == [0, 1]  # the threshold's stays though the trees say neither
    assert made == [2]


def test_an_answer_that_states_nothing_gets_no_contradiction_from_the_trees():
    t = Thresholds(made=0.5, contradicted=0.8, judge_from=0.0)
    p = np.array([[0.2, 0.2, 0.6], [0.2, 0.2, 0.6]])
    for says_nothing in ({"tiny": True}, {"no_claim": "echo"}):
        e = evidence([0.1, 0.1], [0.5, 0.1], [0.7, 0.7], negated=(1,), **says_nothing)
        made, against = combine(e, t, p, contradicted=0.35)
        assert against == [1] and made == []  # the word list still speaks; the trees do not


def test_the_shipped_model_reads_the_current_features():
    model = load_default()
    assert model is not None and model.features == FEATURES
    rows = np.zeros((3, len(FEATURES)))
    rows[:, FEATURES.index("points")] = 5
    probabilities = model.probabilities(rows)
    assert probabilities.shape == (3, len(CLASSES))
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert 0.0 < model.contradicted < 1.0
