"""What batching buys inside one grade: the embedder's and the judge's time, alone and batched.

Grades the same answers (as bench_serve.py's people give them: a reference answer or a vague
guess, alternately, to open questions of the bank) on the serving models, in one process,
one thread:

- one by one (`Grader.grade`, as before batching: each answer encodes its own pieces);
- in batches (`Grader.grade_many`: one embedder call for the batch, then each answer alone);

and reports the wall time of each, with the time spent in the embedder and in the judge.

    PYTHONPATH=. python scripts/bench_grading.py [--answers 48] [--batch 16] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.corpus import load_corpus  # noqa: E402
from bot.core.scoring import Grader  # noqa: E402
from bot.embeddings import OnnxEmbedder  # noqa: E402
from bot.nli import EntailmentModel  # noqa: E402

VAGUE = "I am not sure, maybe use a bigger instance so that everything runs faster."


class Timed:
    """Wraps a model's method and adds up the seconds spent in it."""

    def __init__(self, model, method: str):
        self.model, self.method, self.seconds, self.calls = model, method, 0.0, 0
        self._real = getattr(model, method)
        setattr(model, method, self)

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._real(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=48)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--distinct", action="store_true",
                        help="no two vague guesses alike (bench_serve.py repeats one, which a "
                             "batch encodes once)")
    args = parser.parse_args()
    bank = [q for q in load_corpus() if not q.is_choice]
    embedder, judge = OnnxEmbedder(), EntailmentModel()
    grader = Grader(embedder, judge=judge, bank=bank)
    def vague(q) -> str:
        return f"{VAGUE} Something about {q.prompt.split('?')[0][-60:]}." if args.distinct \
            else VAGUE

    items = [(q, q.reference_answer if n % 2 == 0 else vague(q))
             for n, q in enumerate(bank[:args.answers])]
    grader.prepare_references(q for q, _ in items)
    grader.grade_many(items[:2])  # the bank's topic vectors, the judge loaded
    encode, predict = Timed(embedder, "encode"), Timed(judge, "predict")

    def one_by_one():
        return [grader.grade(q, a) for q, a in items]

    def batched():
        out = []
        for start in range(0, len(items), args.batch):
            out += grader.grade_many(items[start:start + args.batch])
        return out

    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_before": os.getloadavg(), "answers": len(items), "batch": args.batch,
              "distinct": args.distinct}
    grades = {}
    for name, run in (("one_by_one", one_by_one), ("batched", batched)) * args.repeat:
        encode.reset()
        predict.reset()
        started = time.perf_counter()
        grades[name] = run()
        wall = time.perf_counter() - started
        report.setdefault(name, []).append({
            "ms_per_answer": round(1000 * wall / len(items), 1),
            "embedder_ms_per_answer": round(1000 * encode.seconds / len(items), 1),
            "embedder_calls": encode.calls,
            "judge_ms_per_answer": round(1000 * predict.seconds / len(items), 1)})
    for name in ("one_by_one", "batched"):
        runs = report[name]
        report[name + "_median"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    report["same_grades"] = grades["one_by_one"] == grades["batched"]
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
