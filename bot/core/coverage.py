"""Whole-bank quality checks and the coverage table printed by `corpus check`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from bot.core.corpus import NOTES_REFS, QUESTION_TYPES, Question, iter_notes_refs
from bot.core.exam import EXAMS, exam

# Prompts at least this similar (rapidfuzz token_sort_ratio, 0-100) are reported as one
# question asked twice.
NEAR_DUPLICATE_RATIO = 88
SHARE_TOLERANCE = 0.05  # five percentage points either side of the exam weight
MIN_ITEMS_PER_TASK = 5  # enough to practise a task statement more than once or twice
MIN_OPEN_SHARE = 0.5
# Letter balance is judged once there are enough single-answer items to judge it on.
MIN_ITEMS_FOR_LETTER_BALANCE = 12


@dataclass
class BankReport:
    """Findings about the whole bank: errors fail `corpus check`, notes only inform."""

    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def near_duplicates(questions: list[Question]) -> list[tuple[Question, Question, float]]:
    """Pairs of items whose prompts say nearly the same thing."""
    prompts = [q.prompt.lower() for q in questions]
    if len(prompts) < 2:
        return []
    scores = process.cdist(prompts, prompts, scorer=fuzz.token_sort_ratio,
                           score_cutoff=NEAR_DUPLICATE_RATIO)
    pairs = []
    for i in range(len(questions)):
        for j in range(i + 1, len(questions)):
            if scores[i][j]:
                pairs.append((questions[i], questions[j], float(scores[i][j])))
    return pairs


def check_bank(questions: list[Question], exam_code: str | None, whole_bank: bool) -> BankReport:
    """Checks that need every item at once. Coverage and shares apply to the whole bank only,
    for one exam or (exam_code None) for all three."""
    report = BankReport()
    for a, b, score in near_duplicates(questions):
        report.errors.append(
            f"items {a.id} and {b.id}: field prompt: near-duplicate prompts ({score:.0f}/100)")

    single = [q for q in questions if q.type == "mcq"]
    if len(single) >= MIN_ITEMS_FOR_LETTER_BALANCE:
        report.errors.extend(_letter_balance(single))

    if not whole_bank:
        report.notes.append("checked one file: coverage, shares and source-notes refs skipped")
        return report

    missing_refs = [ref for ref in NOTES_REFS if ref not in iter_notes_refs(questions)]
    for ref in missing_refs:
        report.errors.append(f"source notes: notes:{ref} has no item")
    codes = [exam_code] if exam_code else list(EXAMS)
    for code in codes:
        report.errors.extend(_blueprint_problems(questions, code))
    total = len(questions) or 1
    open_share = sum(q.type == "open" for q in questions) / total
    if open_share < MIN_OPEN_SHARE:
        report.errors.append(f"open items are {open_share:.0%} of the bank; at least "
                             f"{MIN_OPEN_SHARE:.0%} should be open interview questions")
    return report


def _blueprint_problems(questions: list[Question], code: str) -> list[str]:
    """Every task statement has enough items and every domain is near its weight."""
    blueprint = exam(code)
    tested = [q for q in questions if q.in_exam(code)]
    problems = []
    per_task = Counter(q.exam_task(code) for q in tested)
    for task, statement in blueprint.tasks.items():
        if per_task[task] < MIN_ITEMS_PER_TASK:
            problems.append(f"{code} task {task} ({statement}): {per_task[task]} item(s), "
                            f"at least {MIN_ITEMS_PER_TASK} needed")
    per_domain = Counter(q.exam_domain(code) for q in tested)
    total = len(tested) or 1
    for domain, weight in blueprint.blueprint.items():
        share = per_domain[domain] / total
        if abs(share - weight) > SHARE_TOLERANCE:
            problems.append(
                f"{code} domain {domain}: {share:.0%} of its items, weight is {weight:.0%} "
                f"(allowed ±{SHARE_TOLERANCE:.0%})")
    return problems


def _letter_balance(items: list[Question]) -> list[str]:
    counts = Counter(q.answer[0] for q in items)
    letters = sorted({letter for q in items for letter in q.letters[:4]})
    expected = len(items) / len(letters)
    # Half to one and a half times the even count: loose enough for a small bank, tight
    # enough to catch "the answer is usually C".
    return [
        f"mcq answers: {letter} is correct in {counts[letter]} of {len(items)} items "
        f"(expected about {expected:.0f}); rebalance the options"
        for letter in letters
        if not 0.5 * expected <= counts[letter] <= 1.5 * expected
    ]


def coverage_table(questions: list[Question], code: str) -> str:
    """One exam's items per domain (share against the blueprint) and per task statement."""
    blueprint = exam(code)
    tested = [q for q in questions if q.in_exam(code)]
    total = len(tested)
    lines = [f"{blueprint.name}: {total} of {len(questions)} items"]
    per_domain = Counter(q.exam_domain(code) for q in tested)
    width = max(len(d) for d in blueprint.domains) + 2
    lines.append(f"{'domain':<{width}} items  share  weight")
    for domain, weight in blueprint.blueprint.items():
        share = per_domain[domain] / total if total else 0.0
        lines.append(f"{domain:<{width}} {per_domain[domain]:>5}  {share:>5.0%}  {weight:>6.0%}")
    lines.append("")
    header = "  ".join(f"{t:>9}" for t in QUESTION_TYPES)
    lines.append(f"{'task':<6} {header}  {'total':>5}  statement")
    for task, statement in blueprint.tasks.items():
        in_task = [q for q in tested if q.exam_task(code) == task]
        counts = Counter(q.type for q in in_task)
        cells = "  ".join(f"{counts[t]:>9}" for t in QUESTION_TYPES)
        lines.append(f"{task:<6} {cells}  {len(in_task):>5}  {statement[:60]}")
    return "\n".join(lines)


def bank_summary(questions: list[Question]) -> str:
    """Items per type, source-notes coverage and the total, whatever the exam."""
    types = Counter(q.type for q in questions)
    cells = "  ".join(f"{t} {types[t]}" for t in QUESTION_TYPES)
    refs = iter_notes_refs(questions)
    return "\n".join([
        f"types: {cells}",
        f"source-notes items covered: {len(refs & set(NOTES_REFS))} of {len(NOTES_REFS)}",
        f"total items: {len(questions)}",
    ])
