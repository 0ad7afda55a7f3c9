"""Fit the rubric's thresholds (bot/rubric.json) on graded answers, never the checking part.

The models' evidence for each answer is computed once; then the thresholds are searched
coordinate by coordinate for the best agreement with the human marks: per-point verdicts,
rank correlation with the 0-5 grades, and the rubric's hard rules (a wrong answer never
partial or strong, a correct one never off-topic, adversarial answers below the median
grade-3 answer, grade-5 answers strong), plus guards generated from the fitting part's own
questions for the answers a learner would notice first: a chat about something else must be
off-topic, a good answer taken back must be told it is wrong, a vague sentence around a key term
must not earn a partial grade.

    .venv/bin/python scripts/fit_rubric.py                 # writes bot/rubric.json

By default the fitting part is read by the shipped judge, which was trained on its answers.
With --fold-models, each question's answers are read by a judge trained without anything
about that question, so the thresholds fit a judge reading new answers; the answers of
eval/dev/aws-train-*.csv can then be fitted on too (--dataset).
--measure-on leaves some of those files out of the fit and measures the thresholds on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train_nli import fold_ids  # noqa: E402  (scripts/, beside this file)

from bot.config import cores  # noqa: E402
from bot.core.corpus import load_corpus  # noqa: E402
from bot.core.evaluation import read_dataset, rubric_report  # noqa: E402
from bot.core.markup import clean  # noqa: E402
from bot.core.point_model import PointModel  # noqa: E402
from bot.core.rubric import THRESHOLDS_FILE, Thresholds  # noqa: E402
from bot.core.scoring import Grader, rubric_verdict  # noqa: E402

GRID = {
    "made": np.arange(0.2, 0.96, 0.05),
    "sim_made": np.append(np.arange(0.5, 0.91, 0.025), 1.01),
    "contradicted": np.arange(0.05, 0.96, 0.025),
    "contra_vs_entail": np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25]),
    "on_topic": np.arange(0.25, 0.66, 0.05),
    # Not below 0.1: an answer that unlike anything in the question must not be on topic.
    "off_topic": np.arange(0.1, 0.31, 0.05),
    "closer_elsewhere": np.arange(-0.05, 0.21, 0.05),
    "judge_from": np.arange(0.0, 0.46, 0.05),
}


# Guards, written for this script (never copied from the tests or the dev set's answers).
OFF_TOPIC = (
    "I like pizza and long walks on the beach with my dog.",
    "My football team won the cup last weekend after extra time.",
    "Mix two eggs with the flour, add a pinch of salt and bake for twenty minutes.",
)
RETRACTED = (
    "Just kidding, none of that is needed in practice.",
    "Forget everything I wrote above, none of it is right.",
)


def guard_answers(rows) -> list[tuple[dict, str, str]]:
    """(row, answer, what it must be) for each question of the fitting part."""
    seen, guards = set(), []
    for row in rows:
        if row["question_id"] in seen:
            continue
        seen.add(row["question_id"])
        n = len(seen)
        guards.append((row, OFF_TOPIC[n % len(OFF_TOPIC)], "off-topic"))
        guards.append((row, f"{row['reference_answer']} {RETRACTED[n % len(RETRACTED)]}",
                       "contradiction"))
        # A vague sentence around a key point's longest word says nothing about the point.
        word = max(row["key_points"].split(";")[0].split(), key=len).strip(".,()").lower()
        guards.append((row, f"Honestly, it all depends on the {word} in the end.",
                       "not credited"))
    return guards


def retyped(reference: str) -> str:
    """A bank reference answer as a learner who studied it types it back. The exact text
    is what the negation check is measured against (`Reference.negated_by_itself`), so
    grading it proves less than grading a near copy."""
    return "I would say " + reference[0].lower() + reference[1:].rstrip(".")


def guard_broken(grade, must: str) -> bool:
    if must == "off-topic":
        return grade.band != "off-topic"
    if must == "contradiction":
        return grade.flag != "contradiction"
    return grade.band in ("partial", "strong")


def objective(report: dict, references_strong: float, guards_kept: float = 1.0) -> float:
    """Higher is better: correlation and point agreement, the bank's own reference answers
    graded strong, each broken hard rule or guard a penalty."""
    agree, total = report["point verdicts agreeing"]
    strong, fives = report["grade 5 strong"]
    below, adversarial = report["adversarial below the grade-3 median"]
    counts = report["answers by grade"]
    wrong = counts.get(0, 0) + counts.get(1, 0)
    correct = sum(n for k, n in counts.items() if k >= 3)
    return (report["spearman"] + agree / total + references_strong
            + 0.5 * min(0.8, strong / max(fives, 1)) + 0.5 * below / max(adversarial, 1)
            - 2.0 * report["grade 0-1 in partial or strong"] / max(wrong, 1)
            - 2.0 * report["grade 3+ called off-topic"] / max(correct, 1)
            - 0.5 * report["contradicted points ticked"] / total
            - 4.0 * (1.0 - guards_kept))


def gather(args, corpus, data):
    """The models' evidence for every answer of the fitting part and for the bank's own
    reference answers: the slow part, done once."""
    from bot.embeddings import Embedder
    from bot.nli import MODEL_DIR, EntailmentModel

    # Default thresholds: judge_from 0, so the judge reads every point and any judge_from
    # can be fitted from this evidence.
    embedder = Embedder()

    def grader(model: Path) -> Grader:
        return Grader(embedder, judge=EntailmentModel(model, threads=cores()), bank=corpus,
                      thresholds=Thresholds())

    # With --fold-models, each question's answers are read by the judge that never saw them.
    models = args.fold_models or [args.model or MODEL_DIR]
    graders = [grader(model) for model in models]
    by_question = {qid: graders[i] for i in range(len(models)) if args.fold_models
                   for qid in fold_ids(f"{i}/{len(models)}")}

    def evidence_of(question_id: str, question: str, reference: str, points, answer: str,
                    vectors) -> tuple:
        chosen = by_question.get(question_id, graders[0])
        ref = chosen.reference(question, reference, list(points))
        return chosen.rubric_evidence(clean(answer) or "-", ref, vectors), ref.points

    answers = [r["student_answer"] for r in data.rows]
    vectors = graders[0].encode_answers(answers)
    evidence, points = [], []
    for n, row in enumerate(data.rows):
        if n % 50 == 0:
            print(f"evidence: {n} of {len(data.rows)} answers", file=sys.stderr, flush=True)
        e, p = evidence_of(row["question_id"], row["question"], row["reference_answer"],
                           row["key_points"].split(";"), row["student_answer"], vectors)
        evidence.append(e)
        points.append(p)
    # The bank's own reference answers, retyped, which must grade strong
    # (tests/test_scoring.py).
    bank = [q for q in corpus if not q.is_choice and q.key_points]
    vectors = graders[0].encode_answers([retyped(q.reference_answer) for q in bank])
    references = [evidence_of(q.id, q.prompt, q.reference_answer, q.key_points,
                              retyped(q.reference_answer), vectors) for q in bank]
    guards = [(*evidence_of(row["question_id"], row["question"], row["reference_answer"],
                            row["key_points"].split(";"), answer, None), must)
              for row, answer, must in guard_answers(data.rows)]
    return evidence, points, references, guards


def measure(t: Thresholds, rows, evidence, points, references, guards, point_model=None
            ) -> tuple[float, dict]:
    """The objective of thresholds `t` on the gathered evidence, and the report behind it;
    with `point_model` (bot/core/point_model.py), the points as it reads them."""

    def verdict(e, p):
        return rubric_verdict(e, p, t, point_model)

    grades = [verdict(e, p) for e, p in zip(evidence, points, strict=True)]
    report = rubric_report(rows, grades)
    graded = [verdict(e, p) for e, p in references]
    strong = sum(grade.band == "strong" for grade in graded)
    wrong = sum(grade.flag == "contradiction" for grade in graded)
    report["bank reference answers retyped, strong"] = (strong, len(references))
    report["bank reference answers retyped, told they contradict a point"] = (
        wrong, len(references))
    broken = [must for e, p, must in guards if guard_broken(verdict(e, p), must)]
    kept = len(guards) - len(broken)
    report["guards kept"] = (kept, len(guards))
    report["guards broken by kind"] = {k: broken.count(k) for k in sorted(set(broken))}
    # Reported, not in the objective: penalising it (weight 4, measured 2026-12-02) moved
    # `contradicted` to .80 and cut the flagged references from 51 to 23, but let 23
    # wrong answers of 99 into partial or strong instead of 7 (docs/scoring.md).
    return objective(report, strong / max(len(references), 1),
                     kept / max(len(guards), 1)), report


def search(start: Thresholds, rounds: int, score) -> tuple[Thresholds, float, dict]:
    """Coordinate search from `start` for the thresholds `score` rates highest."""
    best = start
    best_value, best_report = score(best)
    for _ in range(rounds):
        for pair in (("made", "sim_made"), ("contradicted", "contra_vs_entail"),
                     ("on_topic", "off_topic", "closer_elsewhere"), ("judge_from",)):
            for values in itertools.product(*(GRID[name] for name in pair)):
                candidate = dataclasses.replace(
                    best, **{n: round(float(v), 2) for n, v in zip(pair, values, strict=True)})
                value, report = score(candidate)
                if value > best_value + 1e-9:
                    best, best_value, best_report = candidate, value, report
    return best, best_value, best_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, nargs="+",
                        default=[ROOT / "eval" / "dev" / "aws-fit.csv"],
                        help="graded answers to fit on (default: the fitting part); with "
                             "--fold-models, also eval/dev/aws-train-*.csv, which the fold "
                             "judges split with the fitting part")
    parser.add_argument("--model", type=Path, help="the entailment model folder "
                        "(default: the shipped one)")
    parser.add_argument("--fold-models", type=Path, nargs="+",
                        help="judges trained with train_nli.py --leave-out-fold I/N, in "
                             "order: each fold's answers are read by the judge that never "
                             "saw them, so the thresholds fit a judge reading new answers")
    parser.add_argument("--out", type=Path, default=THRESHOLDS_FILE)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--start", type=Path,
                        help="thresholds to start from (a rubric.json; default: the code's "
                             "defaults); with --rounds 0, report them as they are")
    parser.add_argument("--measure-on", type=Path, nargs="+", default=[],
                        help="files among --dataset left out of the fit: the start's and the "
                             "fitted thresholds are measured on their answers and guards")
    parser.add_argument("--points", type=Path,
                        help="measure with this point model (bot/points.json): the thresholds "
                             "are fitted without one unless it is given")
    parser.add_argument("--evidence", type=Path,
                        help="a pickle of the models' evidence: read it when it exists, else "
                             "compute and write it (re-fitting then takes seconds; delete it "
                             "when the judge, the embedder or the dataset changes)")
    args = parser.parse_args()
    if any("check" in path.name for path in args.dataset):
        print("fit_rubric: never fit on the checking part", file=sys.stderr)
        return 2

    corpus = load_corpus()
    parts = [read_dataset(path, corpus) for path in args.dataset]
    data = dataclasses.replace(parts[0], rows=tuple(r for part in parts for r in part.rows))
    if args.evidence and args.evidence.exists():
        evidence, points, references, guards = pickle.loads(args.evidence.read_bytes())
    else:
        evidence, points, references, guards = gather(args, corpus, data)
        if args.evidence:
            args.evidence.write_bytes(pickle.dumps((evidence, points, references, guards)))

    # Rows and guards split by question: the guards follow guard_answers' order over all rows.
    held = {r["question_id"] for path in args.measure_on for r in read_dataset(path, corpus).rows}
    guard_ids = [row["question_id"] for row, _, _ in guard_answers(data.rows)]

    def part(out: bool) -> tuple:
        keep = [i for i, row in enumerate(data.rows) if (row["question_id"] in held) == out]
        return ([data.rows[i] for i in keep], [evidence[i] for i in keep],
                [points[i] for i in keep], references,
                [g for g, qid in zip(guards, guard_ids, strict=True) if (qid in held) == out])

    start = Thresholds.load(args.start) if args.start else Thresholds()
    fitting = part(out=False)
    point_model = PointModel.load(args.points) if args.points else None
    best, best_value, best_report = search(
        start, args.rounds, lambda t: measure(t, *fitting, point_model))
    args.out.write_text(json.dumps(dataclasses.asdict(best), indent=2) + "\n")
    print(json.dumps(dataclasses.asdict(best), indent=2))
    print(f"objective: {best_value:.3f}")
    report(best_report)
    if held:
        for name, t in (("start", start), ("fitted", best)):
            value, measured = measure(t, *part(out=True), point_model)
            print(f"--- {name} thresholds on --measure-on: objective {value:.3f}")
            report(measured)
    return 0


def report(measured: dict) -> None:
    for name, value in measured.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    raise SystemExit(main())
