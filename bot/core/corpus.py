"""Questions and the question bank: loading the YAML files in corpus/ and validating each item."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.core.exam import EXAMS, MLS_DOMAINS, NOT_TESTED, exam, task_domain

QUESTION_TYPES = ("open", "mcq", "multi", "truefalse")
CHOICE_TYPES = ("mcq", "multi", "truefalse")
DIFFICULTIES = ("easy", "medium", "hard")
LETTERS = string.ascii_uppercase

COMMON_FIELDS = ("id", "type", "task", "mla_c01_task", "mla_c02_task", "topics",
                 "difficulty", "prompt", "source")
# `domain` names the MLS-C01 domain, so it is there exactly when `task` is not `none`.
OPTIONAL_FIELDS = ("domain", "hint", "see_also")
OPEN_FIELDS = ("reference_answer", "key_points")
CHOICE_FIELDS = ("options", "answer", "explanation")

# The 34 items of the source notes (../shared/seed) that the bank must cover.
BEST_PRACTICES = ("least-privilege", "encryption", "right-sizing", "managed-services",
                  "data-caching", "optimized-algorithms", "automated-backups", "checkpointing",
                  "ci-cd", "monitoring", "multi-region", "backup-restore")
NOTES_REFS = (
    tuple(f"practice-{n:02d}" for n in range(1, 11))
    + tuple(f"interview-{n:02d}" for n in range(1, 13))
    + tuple(f"best-practice-{name}" for name in BEST_PRACTICES)
)

ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# A documentation URL must name a page, not a site: a host and at least two path segments.
DOC_URL_PATTERN = re.compile(r"^https://[a-z0-9.-]+\.[a-z]{2,}/[^/\s]+/[^\s]+$")
KEY_POINTS_RANGE = (3, 6)


@dataclass(frozen=True)
class Question:
    """One item of the bank. Choice items keep their options in order; letters are derived."""

    id: str
    type: str
    domain: str | None  # MLS-C01; None where MLS-C01 does not test the item
    task: str | None
    mla_c01_task: str | None
    mla_c02_task: str | None
    topics: tuple[str, ...]
    difficulty: str
    prompt: str
    source: str
    reference_answer: str = ""
    key_points: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    answer: tuple[str, ...] = ()
    explanation: str = ""
    hint: str = ""
    see_also: tuple[str, ...] = ()

    @property
    def is_choice(self) -> bool:
        return self.type in CHOICE_TYPES

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(LETTERS[: len(self.options)])

    @property
    def notes_ref(self) -> str | None:
        """The source-notes reference ("practice-03") when the item comes from the notes."""
        return self.source.removeprefix("notes:") if self.source.startswith("notes:") else None

    def option(self, letter: str) -> str:
        return self.options[LETTERS.index(letter.upper())]

    def answer_text(self) -> str:
        """The correct option(s) spelled out, e.g. "C) Enable encryption at rest"."""
        return "; ".join(f"{letter}) {self.option(letter)}" for letter in self.answer)

    def exam_task(self, code: str) -> str | None:
        """The item's task statement in an exam ("3.1"), or None where it is not tested."""
        return getattr(self, exam(code).field)

    def exam_domain(self, code: str) -> str | None:
        """The item's domain in an exam's terms, or None where it is not tested."""
        return exam(code).domain_of(self.exam_task(code))

    def in_exam(self, code: str) -> bool:
        return self.exam_task(code) is not None

    def placement(self, code: str) -> str:
        """Where the item sits, for display: "Modeling · task 3.2" in the given exam, or in
        the newest exam that tests it when the given one does not."""
        for candidate in (code, "mla-c02", "mla-c01", "mls-c01"):
            if self.in_exam(candidate):
                prefix = "" if candidate == code.lower() else f"{candidate.upper()} "
                return f"{self.exam_domain(candidate)} · {prefix}task {self.exam_task(candidate)}"
        return ""

    def solution(self) -> str:
        """What to show after an attempt: the reference answer, or the answer and why."""
        if self.is_choice:
            return f"{self.answer_text()}. {self.explanation}".strip()
        return self.reference_answer


@dataclass(frozen=True)
class Problem:
    """One validation finding, precise enough to fix without searching."""

    file: str
    item_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: item {self.item_id}: field {self.field}: {self.message}"


class CorpusError(Exception):
    """The bank has items that cannot be loaded; `problems` says which and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UnknownQuestion(KeyError):
    """No question with that id (a stale button, a renamed item)."""


@dataclass
class Corpus:
    """The loaded bank: questions in file order, looked up by id."""

    questions: tuple[Question, ...]
    _by_id: dict[str, Question] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {q.id: q for q in self.questions}

    def __len__(self) -> int:
        return len(self.questions)

    def __iter__(self) -> Iterator[Question]:
        return iter(self.questions)

    def __contains__(self, question_id: object) -> bool:
        return question_id in self._by_id

    def get(self, question_id: str) -> Question:
        try:
            return self._by_id[question_id]
        except KeyError:
            raise UnknownQuestion(question_id) from None

    def topics(self) -> list[str]:
        return sorted({t for q in self.questions for t in q.topics})


def default_corpus_dir() -> Path:
    """The bank shipped with the package: bot/corpus/ in an installed wheel (the build copies
    the checkout's corpus/ there), else corpus/ at the top of the checkout (an editable
    install, or running from the source tree)."""
    package = Path(__file__).resolve().parents[1]
    shipped = package / "corpus"
    return shipped if shipped.is_dir() else package.parent / "corpus"


def corpus_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob("*.yaml"))
    return [path]


def load_corpus(path: str | Path | None = None) -> Corpus:
    """Load and validate every item; raise CorpusError listing every problem found."""
    questions, problems = read_items(Path(path) if path else default_corpus_dir())
    if problems:
        raise CorpusError(problems)
    return Corpus(tuple(questions))


def read_items(path: Path) -> tuple[list[Question], list[Problem]]:
    """Parse and validate the YAML file(s) at path; items with problems are left out."""
    files = corpus_files(path)
    if not files:
        return [], [Problem(str(path), "-", "-", "no *.yaml files found")]
    questions: list[Question] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for file in files:
        name = file.name if path.is_dir() else str(file)
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(Problem(name, "-", "-", f"cannot read YAML: {exc}"))
            continue
        if raw is None:
            raw = []
        if not isinstance(raw, list):
            problems.append(Problem(name, "-", "-", "the file must be a YAML list of items"))
            continue
        for index, item in enumerate(raw, start=1):
            found = validate_item(item, name, index)
            item_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(item_id, str) and item_id in seen:
                found.append(Problem(name, item_id, "id",
                                     f"duplicate id (first used in {seen[item_id]})"))
            elif isinstance(item_id, str):
                seen[item_id] = name
            if found:
                problems.extend(found)
            else:
                questions.append(to_question(item))
    return questions, problems


def to_question(item: dict) -> Question:
    answer = item.get("answer", ())
    if isinstance(answer, str):
        answer = (answer,)
    return Question(
        id=item["id"], type=item["type"], domain=item.get("domain"),
        task=_task(item["task"]), mla_c01_task=_task(item["mla_c01_task"]),
        mla_c02_task=_task(item["mla_c02_task"]), topics=tuple(item["topics"]),
        difficulty=item["difficulty"], prompt=item["prompt"].strip(),
        source=item["source"].strip(),
        reference_answer=str(item.get("reference_answer", "")).strip(),
        key_points=tuple(p.strip() for p in item.get("key_points", ())),
        options=tuple(_option_text(o) for o in item.get("options", ())),
        answer=tuple(a.upper() for a in answer),
        explanation=str(item.get("explanation", "")).strip(),
        hint=str(item.get("hint", "")).strip(),
        see_also=tuple(item.get("see_also", ())),
    )


def _task(value: object) -> str | None:
    text = str(value).strip()
    return None if text == NOT_TESTED else text


def _option_text(option: object) -> str:
    # YAML reads a bare True/False as a bool; truefalse options are text to us.
    if isinstance(option, bool):
        return "True" if option else "False"
    return str(option).strip()


def validate_item(item: object, file: str, index: int) -> list[Problem]:
    """Every problem with one raw item, each naming the field."""
    if not isinstance(item, dict):
        return [Problem(file, f"#{index}", "-", "an item must be a mapping of fields")]
    item_id = item.get("id")
    label = item_id if isinstance(item_id, str) and item_id else f"#{index}"
    problems: list[Problem] = []

    def bad(field_name: str, message: str) -> None:
        problems.append(Problem(file, label, field_name, message))

    qtype = item.get("type")
    required = list(COMMON_FIELDS)
    if qtype == "open":
        required += OPEN_FIELDS
    elif qtype in CHOICE_TYPES:
        required += CHOICE_FIELDS
    for name in required:
        if item.get(name) in (None, "", [], ()):
            bad(name, "missing")
    allowed = set(COMMON_FIELDS) | set(OPTIONAL_FIELDS) | set(OPEN_FIELDS) | set(CHOICE_FIELDS)
    for name in item:
        if name not in allowed:
            bad(str(name), "unknown field")
    if problems and any(p.message == "missing" and p.field in ("id", "type") for p in problems):
        return problems

    if not ID_PATTERN.match(str(item_id)):
        bad("id", "must be a lower-case slug of letters, digits and hyphens")
    if qtype not in QUESTION_TYPES:
        bad("type", f"must be one of {', '.join(QUESTION_TYPES)}, not {qtype!r}")
        return problems
    problems.extend(_placement_problems(item, file, label))
    difficulty = item.get("difficulty")
    if difficulty is not None and difficulty not in DIFFICULTIES:
        bad("difficulty", f"must be one of {', '.join(DIFFICULTIES)}")
    topics = item.get("topics")
    if topics is not None and not (
        isinstance(topics, list) and 1 <= len(topics) <= 5
        and all(isinstance(t, str) and t == t.lower() and t.strip() for t in topics)
    ):
        bad("topics", "must be a list of 1-5 lower-case tags")
    prompt = item.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        bad("prompt", "must be text")
    source = item.get("source")
    if isinstance(source, str) and source:
        problems.extend(_source_problems(source, file, label))
    elif source is not None:
        bad("source", "must be text")
    see_also = item.get("see_also")
    if see_also is not None and not (
        isinstance(see_also, list) and all(isinstance(u, str) and DOC_URL_PATTERN.match(u)
                                           for u in see_also)
    ):
        bad("see_also", "must be a list of documentation page URLs")

    if qtype == "open":
        for name in CHOICE_FIELDS:
            if name in item:
                bad(name, "open items have no options, answer or explanation")
        points = item.get("key_points")
        low, high = KEY_POINTS_RANGE
        if isinstance(points, list):
            if not low <= len(points) <= high:
                bad("key_points", f"must have {low}-{high} entries (has {len(points)})")
            if not all(isinstance(p, str) and p.strip() for p in points):
                bad("key_points", "every key point must be non-empty text")
        elif points is not None:
            bad("key_points", "must be a list of statements")
    else:
        for name in OPEN_FIELDS:
            if name in item:
                bad(name, "choice items have no reference answer or key points")
        problems.extend(_choice_problems(item, qtype, file, label))
    return problems


def _placement_problems(item: dict, file: str, label: str) -> list[Problem]:
    """Each exam's task statement is known (or `none`), and `domain` agrees with MLS-C01's."""
    problems: list[Problem] = []
    for code, blueprint in EXAMS.items():
        value = item.get(blueprint.field)
        if value in (None, ""):
            continue  # reported as missing
        task = str(value).strip()
        if task != NOT_TESTED and task not in blueprint.tasks:
            first, last = next(iter(blueprint.tasks)), list(blueprint.tasks)[-1]
            problems.append(Problem(file, label, blueprint.field,
                                    f"unknown {code.upper()} task statement {task!r}; use "
                                    f"{first} to {last} as in the exam guide, or {NOT_TESTED}"))
    domain, task = item.get("domain"), str(item.get("task", "")).strip()
    if domain is not None and domain not in MLS_DOMAINS:
        problems.append(Problem(file, label, "domain", f"unknown domain {domain!r}; use one of: "
                                f"{'; '.join(MLS_DOMAINS)}"))
    elif task == NOT_TESTED and domain is not None:
        problems.append(Problem(file, label, "domain",
                                "an item MLS-C01 does not test (task: none) has no MLS-C01 domain"))
    elif task not in (NOT_TESTED, "") and domain is None:
        problems.append(Problem(file, label, "domain", "missing"))
    elif domain is not None and task_domain(task) not in (None, domain):
        problems.append(Problem(file, label, "task",
                                f"task {task} belongs to {task_domain(task)!r}, not {domain!r}"))
    return problems


def _source_problems(source: str, file: str, label: str) -> list[Problem]:
    if source.startswith("notes:"):
        ref = source.removeprefix("notes:")
        if ref not in NOTES_REFS:
            return [Problem(file, label, "source",
                            f"unknown source-notes reference {ref!r} (see corpus/README.md)")]
        return []
    if not DOC_URL_PATTERN.match(source):
        return [Problem(file, label, "source",
                        "must be a specific documentation page URL (https://host/path/page) "
                        "or notes:<ref>")]
    return []


def _choice_problems(item: dict, qtype: str, file: str, label: str) -> list[Problem]:
    problems: list[Problem] = []

    def bad(field_name: str, message: str) -> None:
        problems.append(Problem(file, label, field_name, message))

    options = item.get("options")
    if not isinstance(options, list):
        if options is not None:
            bad("options", "must be a list of option texts")
        return problems
    texts = [_option_text(o) for o in options]
    if qtype == "truefalse":
        if texts != ["True", "False"]:
            bad("options", "truefalse items have exactly the options [True, False]")
    elif not 3 <= len(texts) <= 6:
        bad("options", f"must have 3-6 options (has {len(texts)})")
    if any(not t for t in texts):
        bad("options", "an option is empty")
    if len(set(t.lower() for t in texts)) != len(texts):
        bad("options", "two options have the same text")
    letters = LETTERS[: len(texts)]
    answer = item.get("answer")
    if answer is None:
        return problems
    given = [answer] if isinstance(answer, str) else answer
    if not isinstance(given, list) or not all(isinstance(a, str) for a in given):
        bad("answer", "must be a letter, or a list of letters for multi")
        return problems
    wrong = [a for a in given if a.upper() not in letters]
    if wrong:
        bad("answer", f"{', '.join(wrong)} is not one of the options {', '.join(letters)}")
    if qtype == "multi" and len(set(given)) < 2:
        bad("answer", "multi items have at least two correct letters")
    if qtype != "multi" and len(given) != 1:
        bad("answer", f"{qtype} items have exactly one correct letter")
    return problems


def iter_notes_refs(questions: Iterable[Question]) -> set[str]:
    return {q.notes_ref for q in questions if q.notes_ref}
