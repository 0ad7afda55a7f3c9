"""Loading and validating the question bank."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from bot.core.corpus import (
    NOTES_REFS,
    CorpusError,
    UnknownQuestion,
    load_corpus,
    read_items,
)
from bot.core.coverage import check_bank, coverage_table, near_duplicates
from bot.core.exam import EXAMS

ROOT = Path(__file__).resolve().parents[1]

OPEN_ITEM = {
    "id": "ops-sample-open",
    "type": "open",
    "domain": "Machine Learning Implementation and Operations",
    "task": "4.3",
    "mla_c01_task": "4.3",
    "mla_c02_task": "4.3",
    "topics": ["security", "s3"],
    "difficulty": "easy",
    "prompt": "How do you protect training data in S3?",
    "source": "https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html",
    "reference_answer": "Encrypt it with SSE-KMS and require TLS.",
    "key_points": ["Encrypt the bucket with SSE-KMS", "Require TLS in transit",
                   "Restrict access with IAM policies"],
}
MCQ_ITEM = {
    "id": "ops-sample-mcq",
    "type": "mcq",
    "domain": "Machine Learning Implementation and Operations",
    "task": "4.2",
    "mla_c01_task": "3.1",
    "mla_c02_task": "3.1",
    "topics": ["cost", "ec2"],
    "difficulty": "easy",
    "prompt": "Which pricing option suits interruptible development work?",
    "source": "notes:practice-04",
    "options": ["On-Demand Instances", "Reserved Instances", "Spot Instances", "Dedicated Hosts"],
    "answer": "C",
    "explanation": "Spot is cheapest for interruptible work; the others cost more.",
}


def write_bank(tmp_path: Path, *items: dict) -> Path:
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump(list(items), sort_keys=False), encoding="utf-8")
    return path


def with_changes(item: dict, **changes) -> dict:
    changed = dict(item)
    for key, value in changes.items():
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
    return changed


def test_valid_items_load_as_questions(tmp_path):
    corpus = load_corpus(write_bank(tmp_path, OPEN_ITEM, MCQ_ITEM))
    assert len(corpus) == 2
    mcq = corpus.get("ops-sample-mcq")
    assert mcq.letters == ("A", "B", "C", "D")
    assert mcq.answer == ("C",)
    assert mcq.answer_text() == "C) Spot Instances"
    assert mcq.notes_ref == "practice-04"
    assert corpus.get("ops-sample-open").key_points[0] == "Encrypt the bucket with SSE-KMS"
    with pytest.raises(UnknownQuestion):
        corpus.get("no-such-item")


def test_truefalse_options_read_as_text_even_when_yaml_parses_booleans(tmp_path):
    path = tmp_path / "tf.yaml"
    path.write_text(textwrap.dedent("""\
        - id: ops-root-account
          type: truefalse
          domain: Machine Learning Implementation and Operations
          task: "4.3"
          mla_c01_task: "4.3"
          mla_c02_task: "4.3"
          topics: [iam]
          difficulty: easy
          prompt: Use the root user for daily work.
          source: notes:practice-01
          options: [True, False]
          answer: B
          explanation: The root user is for a few account tasks only.
        """), encoding="utf-8")
    question = load_corpus(path).get("ops-root-account")
    assert question.options == ("True", "False")
    assert question.answer_text() == "B) False"


# Each broken item and the exact error it gets: file, item id and field are all named.
BROKEN = [
    (with_changes(OPEN_ITEM, key_points=["only one"]),
     "bank.yaml: item ops-sample-open: field key_points: must have 3-6 entries (has 1)"),
    (with_changes(OPEN_ITEM, reference_answer=None),
     "bank.yaml: item ops-sample-open: field reference_answer: missing"),
    (with_changes(OPEN_ITEM, domain="Data Science"),
     "bank.yaml: item ops-sample-open: field domain: unknown domain 'Data Science'; use one of: "
     "Data Engineering; Exploratory Data Analysis; Modeling; "
     "Machine Learning Implementation and Operations"),
    (with_changes(OPEN_ITEM, task="5.1"),
     "bank.yaml: item ops-sample-open: field task: unknown MLS-C01 task statement '5.1'; "
     "use 1.1 to 4.4 as in the exam guide, or none"),
    (with_changes(OPEN_ITEM, task="1.2"),
     "bank.yaml: item ops-sample-open: field task: task 1.2 belongs to 'Data Engineering', "
     "not 'Machine Learning Implementation and Operations'"),
    (with_changes(OPEN_ITEM, mla_c02_task="4.4"),
     "bank.yaml: item ops-sample-open: field mla_c02_task: unknown MLA-C02 task statement "
     "'4.4'; use 1.1 to 4.3 as in the exam guide, or none"),
    (with_changes(OPEN_ITEM, mla_c01_task=None),
     "bank.yaml: item ops-sample-open: field mla_c01_task: missing"),
    (with_changes(OPEN_ITEM, task="none"),
     "bank.yaml: item ops-sample-open: field domain: an item MLS-C01 does not test "
     "(task: none) has no MLS-C01 domain"),
    (with_changes(OPEN_ITEM, domain=None),
     "bank.yaml: item ops-sample-open: field domain: missing"),
    (with_changes(OPEN_ITEM, type="essay"),
     "bank.yaml: item ops-sample-open: field type: must be one of open, mcq, multi, truefalse, "
     "not 'essay'"),
    (with_changes(OPEN_ITEM, id="Bad Id"),
     "bank.yaml: item Bad Id: field id: must be a lower-case slug of letters, digits and hyphens"),
    (with_changes(OPEN_ITEM, id=None),
     "bank.yaml: item #1: field id: missing"),
    (with_changes(OPEN_ITEM, source="https://aws.amazon.com/"),
     "bank.yaml: item ops-sample-open: field source: must be a specific documentation page URL "
     "(https://host/path/page) or notes:<ref>"),
    (with_changes(OPEN_ITEM, source="notes:practice-11"),
     "bank.yaml: item ops-sample-open: field source: unknown source-notes reference "
     "'practice-11' (see corpus/README.md)"),
    (with_changes(OPEN_ITEM, difficulty="tricky"),
     "bank.yaml: item ops-sample-open: field difficulty: must be one of easy, medium, hard"),
    (with_changes(OPEN_ITEM, topics=["Security"]),
     "bank.yaml: item ops-sample-open: field topics: must be a list of 1-5 lower-case tags"),
    (with_changes(OPEN_ITEM, colour="blue"),
     "bank.yaml: item ops-sample-open: field colour: unknown field"),
    (with_changes(MCQ_ITEM, answer="E"),
     "bank.yaml: item ops-sample-mcq: field answer: E is not one of the options A, B, C, D"),
    (with_changes(MCQ_ITEM, answer=["A", "C"]),
     "bank.yaml: item ops-sample-mcq: field answer: mcq items have exactly one correct letter"),
    (with_changes(MCQ_ITEM, type="multi", answer=["C"]),
     "bank.yaml: item ops-sample-mcq: field answer: multi items have at least two correct letters"),
    (with_changes(MCQ_ITEM, options=["Spot Instances", "Spot instances", "On-Demand"]),
     "bank.yaml: item ops-sample-mcq: field options: two options have the same text"),
    (with_changes(MCQ_ITEM, options=["Yes", "No"]),
     "bank.yaml: item ops-sample-mcq: field options: must have 3-6 options (has 2)"),
    (with_changes(MCQ_ITEM, type="truefalse", options=["Yes", "No"], answer="A"),
     "bank.yaml: item ops-sample-mcq: field options: truefalse items have exactly the options "
     "[True, False]"),
    (with_changes(MCQ_ITEM, explanation=None),
     "bank.yaml: item ops-sample-mcq: field explanation: missing"),
    (with_changes(MCQ_ITEM, key_points=["a", "b", "c"]),
     "bank.yaml: item ops-sample-mcq: field key_points: choice items have no reference answer "
     "or key points"),
]


@pytest.mark.parametrize(("item", "expected"), BROKEN, ids=[e.split(": ")[2] + "|" + e[-30:]
                                                          for _, e in BROKEN])
def test_broken_item_gets_its_exact_error(tmp_path, item, expected):
    with pytest.raises(CorpusError) as caught:
        load_corpus(write_bank(tmp_path, item))
    messages = [str(p) for p in caught.value.problems]
    assert expected.replace("bank.yaml", str(tmp_path / "bank.yaml")) in messages


def test_duplicate_id_across_files_names_the_first_file(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump([OPEN_ITEM]), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump([OPEN_ITEM]), encoding="utf-8")
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path)
    assert [str(p) for p in caught.value.problems] == [
        "b.yaml: item ops-sample-open: field id: duplicate id (first used in a.yaml)"]


@pytest.mark.parametrize(("text", "expected"), [
    ("key: [unclosed", "cannot read YAML"),
    ("just: a mapping", "the file must be a YAML list of items"),
    ("- just a string", "an item must be a mapping of fields"),
])
def test_malformed_files_are_reported_not_crashed_on(tmp_path, text, expected):
    path = tmp_path / "bank.yaml"
    path.write_text(text, encoding="utf-8")
    _, problems = read_items(path)
    assert len(problems) == 1
    assert expected in str(problems[0])


def test_near_duplicate_prompts_are_found(tmp_path):
    twin = with_changes(OPEN_ITEM, id="ops-sample-twin",
                        prompt="How do you protect your training data in S3?")
    other = with_changes(MCQ_ITEM)
    questions, problems = read_items(write_bank(tmp_path, OPEN_ITEM, twin, other))
    assert not problems
    pairs = {(a.id, b.id) for a, b, _ in near_duplicates(questions)}
    assert pairs == {("ops-sample-open", "ops-sample-twin")}
    report = check_bank(questions, "mls-c01", whole_bank=False)
    assert any("near-duplicate prompts" in e for e in report.errors)


def test_whole_bank_checks_report_missing_tasks_notes_and_shares(tmp_path):
    questions, _ = read_items(write_bank(tmp_path, OPEN_ITEM, MCQ_ITEM))
    errors = check_bank(questions, "mls-c01", whole_bank=True).errors
    assert ("mls-c01 task 1.1 (Create data repositories for ML): 0 item(s), at least 5 "
            "needed") in errors
    assert "source notes: notes:practice-01 has no item" in errors
    assert "source notes: notes:practice-04 has no item" not in errors
    assert any(e.startswith("mls-c01 domain Modeling: 0% of its items") for e in errors)
    # Only the exam asked for is checked.
    assert not any(e.startswith("mla-c0") for e in errors)


def test_every_blueprint_is_checked_when_no_exam_is_named(tmp_path):
    questions, _ = read_items(write_bank(tmp_path, OPEN_ITEM, MCQ_ITEM))
    errors = check_bank(questions, None, whole_bank=True).errors
    assert ("mla-c02 task 4.3 (Secure ML and AI workloads, credentials for FMs and Guardrails): "
            "1 item(s), at least 5 needed") in errors
    assert any(e.startswith("mla-c01 domain Data Preparation for ML: 0%") for e in errors)


def test_an_item_an_exam_does_not_test_counts_only_for_the_others(tmp_path):
    genai = with_changes(OPEN_ITEM, id="gen-sample", task="none", domain=None,
                         mla_c01_task="none", mla_c02_task="1.2",
                         prompt="How would you chunk documents for retrieval?")
    questions, problems = read_items(write_bank(tmp_path, OPEN_ITEM, genai))
    assert not problems
    item = next(q for q in questions if q.id == "gen-sample")
    assert (item.task, item.domain, item.mla_c01_task) == (None, None, None)
    assert not item.in_exam("mls-c01") and item.in_exam("MLA-C02")
    assert item.exam_domain("mla-c02") == "Data Preparation for ML and AI"
    assert item.placement("mls-c01") == "Data Preparation for ML and AI · MLA-C02 task 1.2"
    table = coverage_table(questions, "mla-c02")
    assert "2 of 2 items" in table
    assert "1 of 2 items" in coverage_table(questions, "mls-c01")


def test_unbalanced_answer_letters_are_reported(tmp_path):
    items = [with_changes(MCQ_ITEM, id=f"ops-sample-{n}", prompt=f"Distinct question {n} " * n,
                          source=OPEN_ITEM["source"]) for n in range(1, 13)]
    questions, problems = read_items(write_bank(tmp_path, *items))
    assert not problems
    errors = check_bank(questions, "mls-c01", whole_bank=False).errors
    assert "mcq answers: C is correct in 12 of 12 items (expected about 3); rebalance the " \
           "options" in errors


# The real bank ---------------------------------------------------------------------------

def test_real_bank_loads_and_covers_the_source_notes(corpus):
    assert len(corpus) >= 35
    refs = {q.notes_ref for q in corpus if q.notes_ref}
    assert refs == set(NOTES_REFS)


def test_real_bank_passes_every_whole_bank_check(corpus):
    questions = list(corpus)
    report = check_bank(questions, None, whole_bank=True)
    assert report.errors == []
    for code, blueprint in EXAMS.items():
        assert {q.exam_task(code) for q in questions} - {None} == set(blueprint.tasks)
        assert set(blueprint.blueprint) == {q.exam_domain(code) for q in questions} - {None}


def test_real_bank_open_items_have_self_contained_key_points(corpus):
    for question in corpus:
        if question.type == "open":
            assert len(question.reference_answer.split()) >= 15, question.id
            for point in question.key_points:
                assert len(point.split()) >= 3, (question.id, point)


def test_corpus_check_command_exits_zero_on_the_real_bank():
    result = subprocess.run([sys.executable, "-m", "bot", "corpus", "check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "source-notes items covered: 34 of 34" in result.stdout
    assert "corpus OK" in result.stdout


def test_corpus_check_command_exits_one_and_names_the_problem(tmp_path):
    path = write_bank(tmp_path, with_changes(MCQ_ITEM, answer="Z"))
    result = subprocess.run([sys.executable, "-m", "bot", "corpus", "check", str(path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "item ops-sample-mcq: field answer: Z is not one of the options" in result.stderr
