"""Latency of grading one answer with a warm model, against the naive approach.

    .venv/bin/python scripts/bench_scoring.py [--runs 200] [--threads 2] [--embedder onnx|torch]

Ours: Grader.grade as the coach builds it, on an open corpus-style question with six key
points whose reference side was encoded once (cached): per call, the answer is encoded once
(topicality) and the entailment judge reads it with each key point.
Naive: encode the reference answer and the learner's answer on every call and take one cosine.
Both are measured in the same run, interleaved, on the same ~60-word answer, with the same
embedder: the ONNX one that the terminal coach and the server use, unless `--embedder torch`.
A benchmark, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from bot.core.corpus import Question
from bot.core.scoring import Grader
from bot.embeddings import BACKENDS, make_embedder
from bot.nli import EntailmentModel

QUESTION = Question(
    id="bench", type="open", domain="Modeling", task="3.1", mla_c01_task="2.1",
    mla_c02_task="2.1",
    topics=("security",), difficulty="medium", source="notes:practice-01",
    prompt="Your team stores sensitive training data in an S3 bucket that SageMaker reads. "
           "How would you protect that data?",
    reference_answer=(
        "Encrypt the data at rest with SSE-KMS using a customer managed key, and enforce TLS "
        "for data in transit with a bucket policy. Grant the SageMaker execution role "
        "least-privilege IAM access to only that bucket and prefix. Block all public access on "
        "the bucket. Enable versioning so that deleted or overwritten objects can be recovered. "
        "Turn on CloudTrail data events to audit who reads the data."),
    key_points=(
        "Encrypt the data at rest with AWS KMS keys.",
        "Enforce encryption in transit (TLS) with a bucket policy.",
        "Give the SageMaker execution role least-privilege access to only the needed bucket.",
        "Block public access to the bucket.",
        "Enable versioning so that objects can be recovered.",
        "Audit access to the data with CloudTrail."),
)

ANSWER = ("I would encrypt the bucket at rest with a customer managed KMS key and require TLS "
          "in the bucket policy. The SageMaker execution role only gets read access to that "
          "one prefix, nothing else. I would also block public access for the whole account, "
          "turn on versioning so an overwritten file can be restored, and log data access "
          "with CloudTrail so we can see who read what.")


def naive(embedder, question: Question, answer: str) -> float:
    vectors = embedder.encode([question.reference_answer, answer])
    return float(vectors[0] @ vectors[1])


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--embedder", choices=BACKENDS, default="onnx")
    parser.add_argument("--threads", type=int, default=1,
                        help="model runs at once for one answer: 1 as the server runs it "
                             "(job threads share the cores); the terminal coach gives one "
                             "learner every core")
    args = parser.parse_args(argv)
    embedder = make_embedder(args.embedder, threads=args.threads)
    embedder.load()
    grader = Grader(embedder, judge=EntailmentModel(threads=args.threads),
                    bank=[QUESTION])
    for _ in range(10):  # warm: first passes, the reference side, the learned grader
        grader.grade(QUESTION, ANSWER)
        naive(embedder, QUESTION, ANSWER)
    ours_ms, naive_ms = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        grader.grade(QUESTION, ANSWER)
        ours_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        naive(embedder, QUESTION, ANSWER)
        naive_ms.append((time.perf_counter() - start) * 1000)
    words = len(ANSWER.split())
    print(f"answer: {words} words; {args.runs} runs each, interleaved; "
          f"{args.embedder} embedder, {args.threads} model run(s) at once, "
          f"{os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    print("| approach | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, values in (("grader (reference cached, entailment per key point)", ours_ms),
                         ("naive (encode reference + answer, one cosine)", naive_ms)):
        print(f"| {name} | {percentile(values, 50):.1f} | {percentile(values, 95):.1f} |")
    ratio = statistics.median(ours_ms) / statistics.median(naive_ms)
    print(f"ratio of p50s (grader / naive): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
