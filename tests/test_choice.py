"""Choice answers: letters, option text with typos, true/false words, several letters."""

from __future__ import annotations

import pytest

from bot.core.choice import parse_choice
from bot.core.corpus import Question

COMMON = dict(domain="Modeling", task="3.1", mla_c01_task="2.1", mla_c02_task="2.1",
              topics=("cost",), difficulty="easy", prompt="Pick one.", source="notes:practice-01")

MCQ = Question(id="m", type="mcq", options=(
    "On-Demand Instances for every training job",
    "Spot Instances with managed spot training and checkpoints",
    "Dedicated Hosts reserved for three years",
    "A larger GPU instance type",
), answer=("B",), **COMMON)

MULTI = Question(id="x", type="multi", options=(
    "Enable default encryption with AWS KMS keys",
    "Make the bucket public for easy access",
    "Block public access at the account level",
    "Share the root user's access keys",
), answer=("A", "C"), **COMMON)

TF = Question(id="t", type="truefalse", options=("True", "False"), answer=("B",), **COMMON)


@pytest.mark.parametrize("text, expected", [
    ("b", ("B",)), ("B", ("B",)), ("B)", ("B",)), ("(b)", ("B",)), ("b.", ("B",)),
    ("option b", ("B",)), ("Option B", ("B",)), ("answer: b", ("B",)),
    ("I think it's b", ("B",)), ("  c  ", ("C",)),
    ("spot instanses", ("B",)), ("Spot Instances with managed spot training", ("B",)),
    ("dedicated hsots", ("C",)), ("on demand instances", ("A",)),
    ("B) spot instances", ("B",)), ("a larger gpu instance", ("D",)),
])
def test_mcq_answers_are_read_as_letters_or_option_text(text, expected):
    assert parse_choice(MCQ, text) == expected


@pytest.mark.parametrize("text", [
    "e", "option f", "I have no idea", "kubernetes", "instances", "", "b or c maybe",
])
def test_mcq_answers_matching_no_option_are_unclear(text):
    assert parse_choice(MCQ, text) is None


@pytest.mark.parametrize("text, expected", [
    ("a and c", ("A", "C")), ("A,C", ("A", "C")), ("a, c", ("A", "C")), ("c and a", ("A", "C")),
    ("A C", ("A", "C")), ("(a) (c)", ("A", "C")), ("ac", ("A", "C")), ("a", ("A",)),
    ("a & c", ("A", "C")), ("options a and c", ("A", "C")),
    ("enable default encryption and block public access", ("A", "C")),
    ("a and block public access", ("A", "C")),
])
def test_multi_answers_take_several_letters_or_texts(text, expected):
    assert parse_choice(MULTI, text) == expected


@pytest.mark.parametrize("text", ["a and g", "zz top", "encrypt everything somehow"])
def test_multi_answers_matching_no_option_are_unclear(text):
    assert parse_choice(MULTI, text) is None


@pytest.mark.parametrize("text, expected", [
    ("false", ("B",)), ("False", ("B",)), ("F", ("B",)), ("no", ("B",)), ("nope", ("B",)),
    ("true", ("A",)), ("yes", ("A",)), ("T", ("A",)), ("b", ("B",)), ("a", ("A",)),
    ("fasle", ("B",)), ("ture", ("A",)),
])
def test_truefalse_answers_accept_words_and_letters(text, expected):
    assert parse_choice(TF, text) == expected


@pytest.mark.parametrize("text", ["maybe", "true or false", "yes and no", "it depends"])
def test_truefalse_answers_that_say_both_or_neither_are_unclear(text):
    assert parse_choice(TF, text) is None
