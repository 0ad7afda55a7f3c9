"""The terminal coach and the progress commands.

In-process sessions use the scripted grader (pure unit tests of the loop); the end-to-end
tests run `python -m bot ...` through a pipe, the last one with the real model and scorer.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli.practice import Session
from bot.store import Store

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "corpus"
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
ADA = "local:ada"
OPEN_ID, CHOICE_ID = "fx-least-privilege", "fx-kms-encryption"  # the two "security" items


def session(coach, script: str, topic: str | None = None, start: str | None = OPEN_ID):
    """Run a session over `script`; (exit status, output). `start` is left pending first."""
    coach.register(ADA, "ada")
    if start:
        coach.store.set_pending(ADA, start, NOW)
    out = io.StringIO()
    status = Session(coach, ADA, topic, io.StringIO(script), out, clock=lambda: NOW).run()
    return status, out.getvalue()


def test_a_scripted_session_answers_hints_and_shows_progress(make_coach, store):
    coach = make_coach()
    script = ("hint\n"
              "75 I would give the job its own role\nand scope the KMS key to it\n\n"
              "stats\nboard\nB\nquit\n")
    status, out = session(coach, script, topic="security")
    assert status == 0
    assert "How do you apply least privilege" in out
    assert "Hint: Think about security, iam" in out
    assert "Score  75/100" in out and "✓ Give the training job its own IAM execution role" in out
    assert "✗ Run the job in a private VPC without internet access" in out
    assert "Reference answer:" in out and "Give the job its own IAM execution role" in out
    assert "ada: 1 answer(s), average 75/100" in out  # stats, between the two answers
    assert "1. ada" in out and "75 pts" in out  # the board
    assert "Score 100/100" in out and "You chose B; the answer is B." in out
    assert "Session over: 2 answered, average 88/100." in out
    exported = coach.export(ADA)
    assert [(a["question_id"], a["score"], a["source"]) for a in exported["attempts"]] == [
        (OPEN_ID, 75, "cli"), (CHOICE_ID, 100, "cli")]
    assert exported["attempts"][0]["answer"] == ("75 I would give the job its own role\n"
                                                 "and scope the KMS key to it")


def test_empty_and_unclear_answers_keep_the_question(make_coach):
    coach = make_coach()
    status, out = session(coach, "\n\nzz\nB\nquit\n", start=CHOICE_ID)
    assert status == 0
    assert out.count("What encrypts the ML storage volumes") == 1  # asked once, kept
    assert "Type an answer first." in out and "Pick a letter." in out
    assert [a["score"] for a in coach.export(ADA)["attempts"]] == [100]


def test_an_empty_open_answer_gets_a_friendly_word_and_no_grading(make_coach):
    grader_calls = []
    coach = make_coach()
    coach.grader.grade = lambda q, t: grader_calls.append(t)  # must not be reached
    status, out = session(coach, "\n   \nquit\n")
    assert status == 0 and grader_calls == []
    assert out.count("That was an empty answer") == 2


def test_end_of_input_mid_answer_grades_what_was_typed_and_exits_0(make_coach):
    coach = make_coach()
    status, out = session(coach, "60 first line\nsecond line")
    assert status == 0 and "Score  60/100" in out
    assert coach.export(ADA)["attempts"][0]["answer"] == "60 first line\nsecond line"


def test_end_of_input_at_the_prompt_exits_0_and_keeps_the_question(make_coach):
    coach = make_coach()
    status, out = session(coach, "")
    assert status == 0 and "nothing answered" in out
    assert coach.pending(ADA).id == OPEN_ID


def test_skip_moves_on_without_recording(make_coach):
    coach = make_coach()
    status, out = session(coach, "skip\nquit\n", topic="security")
    assert status == 0 and "Skipped." in out and "What encrypts the ML storage" in out
    assert coach.export(ADA)["attempts"] == []


def test_the_next_session_resumes_the_open_question(make_coach):
    coach = make_coach()
    session(coach, "quit\n", start=CHOICE_ID)
    status, out = session(coach, "quit\n", start=None)
    assert "What encrypts the ML storage volumes" in out


def test_piped_input_is_echoed_so_the_log_reads_like_a_session(make_coach):
    _, out = session(make_coach(), "hint\nquit\n")
    assert "> hint\nHint:" in out


def test_a_filter_that_matches_nothing_stops_with_status_1(make_coach):
    status, out = session(make_coach(), "quit\n", topic="kubernetes", start=None)
    assert status == 1 and "No question matches “kubernetes”" in out


# --- the commands end to end (no model needed) ------------------------------------------

def bot(*args, input_text="", env_extra=None, timeout=120):
    env = {**os.environ, "MLSPREP_CORPUS": str(FIXTURE_CORPUS), "MLSPREP_TZ": "UTC"}
    env.pop("DATABASE_PATH", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bot", *args], input=input_text, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture
def filled_db(tmp_path, make_coach):
    """A database where ada and bob have answered (written through the coach)."""
    coach = make_coach()
    for person, name, score in ((ADA, "ada", "80"), ("local:bob", "bob", "60")):
        coach.register(person, name)
        coach.answer(person, score, datetime.now(UTC) - timedelta(minutes=5),
                     question_id="fx-overfitting")
    return Path(coach.store.path)


def test_board_stats_export_and_forget_commands(filled_db, tmp_path):
    board = bot("board", "--db", str(filled_db), "--name", "bob")
    assert board.returncode == 0, board.stderr
    assert "This week" in board.stdout and "All time" in board.stdout
    assert board.stdout.index("ada") < board.stdout.index("bob")
    assert "80 pts" in board.stdout

    stats = bot("stats", "--name", "ada", "--db", str(filled_db))
    assert stats.returncode == 0, stats.stderr
    assert "ada: 1 answer(s), average 80/100" in stats.stdout
    assert "not a pass prediction" in stats.stdout

    exported = bot("export", "--name", "ada", "--db", str(filled_db))
    data = json.loads(exported.stdout)
    assert data["person"]["id"] == ADA and data["attempts"][0]["score"] == 80

    out_file = tmp_path / "ada.json"
    assert bot("export", "--name", "ada", "--db", str(filled_db), "-o",
               str(out_file)).returncode == 0
    assert json.loads(out_file.read_text())["person"]["display_name"] == "ada"

    forget = bot("forget", "--name", "ada", "--db", str(filled_db))
    assert forget.returncode == 0 and "3 row(s) deleted" in forget.stdout
    gone = bot("stats", "--name", "ada", "--db", str(filled_db))
    assert gone.returncode == 1 and "No progress stored for ada" in gone.stderr
    assert "ada" not in bot("board", "--db", str(filled_db)).stdout


def test_database_path_comes_from_the_environment_and_db_overrides_it(tmp_path, filled_db):
    via_env = bot("board", env_extra={"DATABASE_PATH": str(filled_db)})
    assert "ada" in via_env.stdout
    other = tmp_path / "other.db"
    overridden = bot("board", "--db", str(other), env_extra={"DATABASE_PATH": str(filled_db)})
    assert "ada" not in overridden.stdout and other.exists()


def test_building_the_coach_does_not_load_the_model(tmp_path):
    code = ("import sys; from bot.config import Settings; from bot.wiring import build_coach; "
            f"c = build_coach(Settings(database_path={str(tmp_path / 'x.db')!r}, "
            f"corpus_path={str(FIXTURE_CORPUS)!r})); "
            "print('sentence_transformers' in sys.modules, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.stdout.split() == ["False", "False"], result.stderr


# --- the terminal coach through a pipe, with the real model --------------------------------

# The scorer (bot/core/scoring.py and its fitted bot/grader.json) is being written alongside
# this; until both are in the checkout the end-to-end run has nothing to grade with.
HAS_SCORER = (ROOT / "bot" / "core" / "scoring.py").exists() and (ROOT / "bot" /
                                                                   "grader.json").exists()


@pytest.mark.skipif(not HAS_SCORER, reason="waits for the scorer: bot/core/scoring.py and "
                    "bot/grader.json")
def test_practice_through_a_pipe_with_the_real_model(tmp_path):
    db = tmp_path / "x.db"
    store = Store(db)
    store.upsert_person(ADA, "ada", "UTC")
    store.set_pending(ADA, OPEN_ID, datetime.now(UTC))  # so the session starts on a known item
    store.close()
    script = (
        "hint\n"
        "\n"
        "I would give the training job its own IAM execution role that can only read its\n"
        "input prefix and write its output prefix in S3. I would restrict use of the KMS key\n"
        "to that role and run the job in a private VPC without internet access.\n"
        "\n"
        "stats\n"
        "board\n"
        "zz\n"
        "b\n"
        "skip\n"
    )  # ends without quit: end of input ends the session
    result = bot("practice", "--name", "ada", "--db", str(db), "--domain", "securty",
                 input_text=script, timeout=300)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Hint:" in out and "That was an empty answer" in out
    assert out.count("Score ") == 2
    assert "✓" in out and "Reference answer:" in out
    assert "What encrypts the ML storage volumes" in out
    between = out[out.index("> zz"):out.index("> b\n")]
    assert "Score" not in between and "── Question" not in between  # kept, not lost
    assert "You chose B; the answer is B." in out
    assert "Skipped." in out and "Session over: 2 answered" in out

    store = Store(db)
    attempts = store.export_person(ADA)["attempts"]
    store.close()
    assert [(a["question_id"], a["source"]) for a in attempts] == [(OPEN_ID, "cli"),
                                                                  (CHOICE_ID, "cli")]
    assert attempts[0]["covered"] and attempts[1]["score"] == 100
    board = bot("board", "--db", str(db))
    assert "ada" in board.stdout


# --- piping and forgetting -----------------------------------------------------------------

@pytest.mark.parametrize("command", [["stats", "--name", "ada"], ["export", "--name", "ada"],
                                     ["board"], ["practice", "--name", "ada"]])
def test_a_reader_that_goes_away_ends_the_command_without_a_traceback(filled_db, command):
    env = {**os.environ, "MLSPREP_CORPUS": str(FIXTURE_CORPUS), "MLSPREP_TZ": "UTC"}
    process = subprocess.Popen([sys.executable, "-m", "bot", *command, "--db", str(filled_db)],
                               cwd=ROOT, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # like `| head -1` that has already read its line
    _, err = process.communicate(b"quit\n", timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert process.returncode == 141


def test_forget_asks_at_the_terminal_and_yes_skips_the_question(filled_db, monkeypatch):
    from bot.cli import main
    from bot.cli.progress import confirmed

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert confirmed("Delete?") is False
    assert main(["forget", "--name", "ada", "--db", str(filled_db)]) == 1
    assert main(["forget", "--name", "ada", "--db", str(filled_db), "--yes"]) == 0
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["forget", "--name", "bob", "--db", str(filled_db)]) == 0


# --- giving up, numbering, choosing the question and the exam -----------------------------

def test_giving_up_shows_the_answer_and_records_a_miss_for_review(make_coach):
    coach = make_coach()
    status, out = session(coach, "I don't know\nquit\n", start=CHOICE_ID)
    assert status == 0 and "Given up: counted as a miss" in out
    assert "Answer:\n  B) A customer managed AWS KMS key passed as VolumeKmsKeyId" in out
    assert "next review: in 10 min" in out
    assert "Session over: nothing answered, 1 given up this time." in out
    assert [(a["question_id"], a["score"]) for a in coach.export(ADA)["attempts"]] == [
        (CHOICE_ID, 0)]


def test_a_skipped_question_leaves_its_number_to_the_next(make_coach):
    _, out = session(make_coach(), "skip\nskip\n80 an answer\n\nquit\n", topic="security")
    numbers = [line.split("·")[0].strip() for line in out.splitlines()
               if line.startswith("── Question")]
    assert numbers == ["── Question 1", "── Question 1", "── Question 1", "── Question 2"]


def test_two_letters_for_a_single_answer_question_are_asked_again_once(make_coach):
    coach = make_coach()
    status, out = session(coach, "a c\nb\nquit\n", start=CHOICE_ID)
    said = " ".join(out.split())  # as one line, whatever the wrapping
    assert "This question has a single answer among A, B, C and D. Pick a letter." in said
    assert "a and c" not in out
    assert [a["score"] for a in coach.export(ADA)["attempts"]] == [100]


def test_a_script_picks_its_question_and_its_exam(tmp_path):
    db = str(tmp_path / "x.db")
    result = bot("practice", "--name", "ada", "--db", db, "--question", CHOICE_ID,
                 "--exam", "MLA-C02", input_text="b\nquit\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("mlsprep · MLA-C02 practice as ada")
    assert "What encrypts the ML storage volumes" in result.stdout
    assert "You chose B; the answer is B." in result.stdout
    stats = bot("stats", "--name", "ada", "--db", db, "--exam", "mla-c01")
    assert "mastery by MLA-C01 domain" in stats.stdout
    unknown = bot("practice", "--name", "ada", "--db", db, "--question", "no-such-item",
                  input_text="quit\n")
    assert unknown.returncode == 1 and "There is no question “no-such-item”" in unknown.stdout


def test_a_domain_that_matches_nothing_lists_domains_and_topics(tmp_path):
    for query in ("nonsense", "a"):
        result = bot("practice", "--db", str(tmp_path / "x.db"), "--domain", query)
        assert result.returncode == 1
        assert f"No question matches “{query}”" in result.stdout
        assert "Domains: Data Engineering (tasks 1.x);" in result.stdout
        assert "Topics:" in result.stdout and "xgboost" in result.stdout


def test_the_model_loads_without_a_progress_bar_in_the_session():
    # The model loads in the background while the learner reads: a bar would land after `> `.
    code = ("import os; os.environ.pop('HF_HUB_DISABLE_PROGRESS_BARS', None); "
            "from bot.cli.practice import quiet_model_load; quiet_model_load(); "
            "from transformers.utils import logging; print(logging.is_progress_bar_enabled())")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_the_readme_scripts_name_questions_that_exist():
    import re

    from bot.core.corpus import load_corpus

    named = re.findall(r"--question\s+([a-z0-9-]+)", (ROOT / "README.md").read_text())
    assert named and all(question_id in load_corpus() for question_id in named)
