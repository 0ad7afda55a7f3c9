"""The word list's reading of negation (bot/core/text.py): which word of a key point an
answer's negation is about."""

from __future__ import annotations

import pytest

from bot.core.text import flipped

ROUTE_53 = ("Use Amazon Route 53 health checks with failover or latency-based routing "
            "between Regions.")
GLUE = "Record format conversion needs a Glue Data Catalog table for the schema."
ENCRYPT = "Encrypt the data at rest with AWS KMS keys."


# With no subject before "need", what is waved away is the object after it; the word list
# takes "need" as the head and flips nothing. Passing the head on to the object was tried on
# 2026-12-04 (docs/scoring.md, "What is weak") and not kept.
WAVED_AWAY = pytest.mark.xfail(strict=True, reason="the word list reads 'need' as the head")


@pytest.mark.parametrize("answer, point, words", [
    ("Never encrypt the bucket.", ENCRYPT, {"encrypt"}),
    ("Disable encryption on the bucket.", ENCRYPT, {"encrypt"}),
    # The subject of "not needed" is what the answer waves away.
    ("Encryption is not needed inside AWS.", ENCRYPT, {"encrypt"}),
    pytest.param("There is no need for Route 53 or any health checks.", ROUTE_53, {"route"},
                 marks=WAVED_AWAY),
    pytest.param("You don't need a Glue table or any deserializer for this.", GLUE, {"glue"},
                 marks=WAVED_AWAY),
    pytest.param("It is not necessary to encrypt the bucket.", ENCRYPT, {"encrypt"},
                 marks=WAVED_AWAY),
])
def test_an_answer_that_negates_a_point_flips_it(answer, point, words):
    assert flipped(answer, point) == words


@pytest.mark.parametrize("answer, point", [
    ("Use Route 53 health checks; there is no need for anything else.", ROUTE_53),
    ("You do not need to retrain from scratch; just fine-tune.",
     "Fine-tune a pretrained model rather than training from scratch."),
    ("Keep a model that is never retrained as the baseline.", "Retrain the model weekly."),
    ("The battery is not in a closed path.", "No closed path contains the battery."),
])
def test_a_negation_about_something_else_flips_nothing(answer, point):
    assert flipped(answer, point) == set()
