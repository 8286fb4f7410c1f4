"""The one rule for values leaving the warehouse, as an adversary would probe it."""

from __future__ import annotations

import pytest

from ctdc_assets.redaction import count_of, redact


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Maribel Okonkwo", "<redacted: 15 chars, letters, spaces>"),
        ("maribel.okonkwo@example.org", "<redacted: 27 chars, letters, punctuation>"),
        ("5550100", "<redacted: 7 chars, digits>"),  # too long for a count: a phone number
        ("13/02/1999", "<redacted: 10 chars, digits, punctuation>"),  # a birthdate
        ("Forced labour;Maribel Okonkwo", "<redacted: 29 chars, letters, spaces, punctuation>"),
        ("Q", "<redacted: 1 char, letters>"),
    ],
)
def test_anything_outside_the_vocabulary_is_shown_by_its_shape(value: str, shown: str) -> None:
    assert redact(value) == shown


@pytest.mark.parametrize(
    "value", ["Female", "-99", "UA", "isAbduction=2", "Debt bondage; Threats", "150", "2016"]
)
def test_the_standards_words_small_numbers_and_their_combinations_are_shown(value: str) -> None:
    assert redact(value) == value


def test_declared_configuration_is_shown_and_only_it() -> None:
    assert redact("victim_name", allowed={"victim_name"}) == "victim_name"
    assert redact("victim_name").startswith("<redacted: 11 chars")
    assert (redact(None), redact("  "), redact(3)) == ("null", "(blank)", "3")


def test_unknown_columns_are_counted_not_named() -> None:
    assert count_of(["Maribel Okonkwo"]) == "1 unknown column"
    assert count_of(["a", "b"]) == "2 unknown columns"
