"""The shipped entailment model: the file is the one its recipe describes, it loads
offline without torch, and it tells entailment from contradiction on plain cases."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.nli import LABELS, MODEL_DIR, EntailmentModel

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_weights_are_the_ones_the_recipe_describes():
    recipe = json.loads((MODEL_DIR / "recipe.json").read_text())
    digest = hashlib.sha256((MODEL_DIR / "model.onnx").read_bytes()).hexdigest()
    assert recipe["sha256"]["model.onnx"] == digest
    assert recipe["labels"] == list(LABELS)
    assert (MODEL_DIR / "model.onnx").stat().st_size <= 50 * 1024 * 1024
    # The checking part of the dev set was never trained on.
    with (ROOT / "eval" / "dev" / "aws-check.csv").open(encoding="utf-8") as handle:
        import csv

        check_questions = {row["question_id"] for row in csv.DictReader(handle)}
    assert check_questions <= set(recipe["held_out_questions"])


OFFLINE_JUDGE = r"""
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from bot.nli import EntailmentModel
probs = EntailmentModel().predict([("We turn on versioning for the bucket.",
                                     "Enable versioning on the bucket.")])
print("judged", probs.shape, round(float(probs.sum()), 3))
print("torch", "torch" in sys.modules)
"""


def test_the_judge_runs_offline_without_importing_torch():
    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", OFFLINE_JUDGE], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "judged (1, 3) 1.0" in result.stdout
    assert "torch False" in result.stdout


def test_plain_entailment_and_contradiction(judge):
    point = "Enable S3 versioning on the model bucket so earlier models can be restored."
    probs = judge.predict([
        ("I would switch on versioning for the bucket that holds the model artifacts, so an "
         "older model can always be brought back.", point),
        ("Versioning should never be enabled on the model bucket; it is useless.", point),
    ])
    entail, contra = LABELS.index("entailment"), LABELS.index("contradiction")
    assert probs[0].argmax() == entail
    assert probs[1, contra] > probs[1, entail]


def test_pairs_judged_side_by_side_get_the_same_probabilities(judge):
    """The terminal coach runs a grade's pairs two at a time (bot/nli.py): each pair is still
    its own run on one core, so its probabilities are exactly the ones judged alone."""
    answer = ("We keep every model in an S3 bucket with versioning on, encrypt it with KMS "
              "and let only the endpoint's role read it.")
    points = ["Enable versioning so that objects can be recovered.",
              "Encrypt the data at rest with AWS KMS keys.",
              "Block public access to the bucket.",
              "Audit access to the data with CloudTrail.",
              "Give the execution role least-privilege access to only the needed bucket."]
    pairs = [(answer, p) for p in points] * 3
    side_by_side = EntailmentModel(threads=2)
    assert side_by_side.predict(pairs).tobytes() == judge.predict(pairs).tobytes()
    assert side_by_side._pool is not None and judge._pool is None


def test_the_script_builds_the_training_data_the_recipe_records():
    # The shipped judge must be what scripts/train_nli.py makes with the recipe's command:
    # same pairs from each source (the training itself is too slow for the suite).
    import shlex

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_nli

    recipe = json.loads((MODEL_DIR / "recipe.json").read_text())
    argv = shlex.split(recipe["command"])[1:]
    data, held_out = train_nli.training_data(train_nli.arguments(argv))
    assert {name: len(part) for name, part in data.items()} == recipe["pairs"]
    assert sorted(held_out) == recipe["held_out_questions"]


def test_pairs_written_by_hand_never_touch_a_checking_question(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_nli

    held_out = train_nli.check_ids()
    shipped = ROOT / "eval" / "nli" / "handwritten-pairs.csv"
    pairs = train_nli.extra_pairs(shipped, held_out)
    assert pairs and {label for _, _, label in pairs} == {LABELS.index("entailment"),
                                                          LABELS.index("contradiction")}
    leaking = tmp_path / "leak.csv"
    leaking.write_text("question_id,premise,hypothesis,label\n"
                       f"{sorted(held_out)[0]},Some answer.,Some point.,entailment\n")
    with pytest.raises(SystemExit, match="checking questions"):
        train_nli.extra_pairs(leaking, held_out)


def test_a_fold_judge_knows_nothing_of_the_questions_its_fold_is_graded_with():
    # fit_rubric.py --fold-models fits the thresholds on evidence where each question's answers
    # are read by a judge trained without anything about that question, as the shipped judge
    # knows nothing of the checking part: the folds must split the questions with graded
    # answers, and no pair of a fold judge may hold a fold question's answers, reference or
    # hand-written premises.

    sys.path.insert(0, str(ROOT / "scripts"))
    import train_nli

    graded = [ROOT / "eval" / "dev" / "aws-fit.csv",
              *sorted((ROOT / "eval" / "dev").glob("aws-train-*.csv"))]
    rows = []
    for path in graded:
        with path.open(newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
    folds = [train_nli.fold_ids(f"{i}/2") for i in range(2)]
    assert folds[0] and folds[1] and not folds[0] & folds[1]
    assert folds[0] | folds[1] == {r["question_id"] for r in rows}
    assert not (folds[0] | folds[1]) & train_nli.check_ids()

    corpus = train_nli.open_items()
    hand = [ROOT / "eval" / "nli" / "handwritten-pairs.csv",
            ROOT / "eval" / "nli" / "negated-instructions.csv"]
    hand_rows = []
    for path in hand:
        with path.open(newline="", encoding="utf-8") as handle:
            hand_rows += list(csv.DictReader(handle))
    # Every bank pair kept (no sampling), so a reference left in would show.
    argv = ["--semeval-per-file", "10", "--bank-max", "1000000",
            "--more-answers", *map(str, graded[1:]), "--extra-pairs", *map(str, hand)]

    def premises(data):
        return {premise for part in data.values() for premise, _, _ in part}

    whole = premises(train_nli.training_data(train_nli.arguments(argv))[0])
    for i, fold in enumerate(folds):
        data, held_out = train_nli.training_data(
            train_nli.arguments([*argv, "--leave-out-fold", f"{i}/2"]))
        assert fold <= held_out
        about_fold = ({train_nli.clean(r["student_answer"]) for r in rows
                       if r["question_id"] in fold}
                      | {" ".join(corpus[q]["reference_answer"].split()) for q in fold}
                      | {train_nli.clean(r["premise"]) for r in hand_rows
                         if r["question_id"] in fold})
        assert about_fold <= whole  # the judge of every question reads them all
        assert not premises(data) & about_fold
        outside = {train_nli.clean(r["student_answer"]) for r in rows
                   if r["question_id"] not in fold}
        assert outside <= premises(data)


def test_more_graded_answers_are_read_point_by_point_and_never_about_a_checking_question(
        tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_nli

    held_out, corpus = train_nli.check_ids(), train_nli.open_items()
    shipped = sorted((ROOT / "eval" / "dev").glob("aws-train-*.csv"))
    assert shipped
    for path in shipped:
        pairs = train_nli.more_answers(path, corpus, held_out)
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert len(pairs) == sum(len(corpus[r["question_id"]]["key_points"]) for r in rows)
    leaking = tmp_path / "leak.csv"
    leaking.write_text(
        "question_id,answer_id,split,grade,kind,voice,points_made,points_contradicted,"
        f"student_answer\n{sorted(held_out)[0]},x-t01,train,3,honest,plain,1,,Some answer.\n")
    with pytest.raises(SystemExit, match="checking questions"):
        train_nli.more_answers(leaking, corpus, held_out)


def test_int8_storage_is_a_per_channel_copy_of_the_float16_file(tmp_path):
    # The shipped judge is its float16 export quantised by onnx_storage.store_int8: the same
    # input must give the same bytes (so the recipe's hash can be rebuilt from the float16
    # file), one weight scale per output column, and outputs close to the float model's.
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    sys.path.insert(0, str(ROOT / "scripts"))
    from onnx_storage import store_fp16, store_int8

    rng = np.random.default_rng(7)
    # Columns on very different scales: one scale per matrix would crush the small ones.
    weight = (rng.standard_normal((64, 32)) * np.geomspace(0.01, 1.0, 32)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 32])],
        [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(tmp_path / "fp32.onnx"))
    store_fp16(tmp_path / "fp32.onnx", tmp_path / "fp16.onnx")
    store_int8(tmp_path / "fp16.onnx", tmp_path / "a.onnx")
    store_int8(tmp_path / "fp16.onnx", tmp_path / "b.onnx")
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()

    quantised = onnx.load(str(tmp_path / "a.onnx"))
    scales = [numpy_helper.to_array(init) for init in quantised.graph.initializer
              if init.name.endswith("_scale")]
    assert [s.shape for s in scales] == [(32,)]
    x = rng.standard_normal((4, 64)).astype(np.float32)
    expected = x @ weight

    def run(path):
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(["y"], {"x": x})[0]

    got = run(tmp_path / "a.onnx")
    column_size = np.abs(expected).max(axis=0)
    assert np.all(np.abs(got - expected).max(axis=0) < 0.05 * column_size)
    assert np.allclose(run(tmp_path / "fp16.onnx"), expected, atol=1e-2 * column_size.max())
