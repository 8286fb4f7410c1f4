"""The one rule for values that leave the encrypted warehouse.

A value read from a delivery may be written outside the warehouse (quality report,
check and asset metadata, logs, manifest, the Dagster instance) only if it is a value
of the standard's vocabulary, or configuration the project already publishes (a
crosswalk's or suite's column or value). Anything else is shown as its shape, e.g.
`<redacted: 15 chars, letters, space>`, never its text: no pattern can tell a name
typed into an age field from a misspelt country, so nothing is guessed. Counts and
row numbers are the pipeline's own and are not values of a delivery; a number of up to
four digits (an age of 150, a flag of 2) cannot spell a name and is shown too. A value
made of allowed parts (`isAbduction=2`, a list `Debt bondage;Threats`) is shown; one
unknown part redacts the whole value.

The engineer sees the actual values in the terminal of `ctdc run` and with
`ctdc findings CONTRIBUTOR`, which reads them from the warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from functools import cache
from typing import Any

from ctdc_assets.standard import country_codes, load_standard

MAX_SHOWN_CHARS = 80
_SMALL_NUMBER = re.compile(r"-?\d{1,4}")
_PARTS = re.compile(r"\s*[=;|,]\s*")


@cache
def vocabulary() -> frozenset[str]:
    """Every name, code and label of the standard: they are public by definition."""
    std = load_standard()
    words: set[str] = {std.missing_code, std.unknown_country, *std.extra_country_codes}
    words |= country_codes() | set(std.contributors)
    for var in std.variables + std.internal:
        words.add(var.name)
        if var.label:
            words.add(var.label)
        for value in var.values or ():
            words |= {str(value.code), *(str(v) for v in vars(value).values() if v)}
        words |= set(var.accepted_variants or {})
        if var.valid_range:
            low, high = var.valid_range
            words |= {str(n) for n in range(low, high + 1)}
    return frozenset(w for w in words if isinstance(w, str))


def configured(config: Any) -> frozenset[str]:
    """Every string in a piece of configuration (a suite's kwargs, a crosswalk's map)."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, Mapping):
            for key, value in item.items():
                walk(key)
                walk(value)
        elif isinstance(item, Iterable):
            for value in item:
                walk(value)

    walk(config)
    return frozenset(found)


def shape(text: str) -> str:
    """What may be said about a value that may not be shown: its length and classes."""
    classes = [
        name
        for name, test in (
            ("letters", str.isalpha),
            ("digits", str.isdigit),
            ("spaces", str.isspace),
        )
        if any(test(ch) for ch in text)
    ]
    if any(not (ch.isalnum() or ch.isspace()) for ch in text):
        classes.append("punctuation")
    noun = "char" if len(text) == 1 else "chars"
    return f"<redacted: {len(text)} {noun}, {', '.join(classes)}>"


def redact(value: Any, allowed: Collection[str] = ()) -> str:
    """`value` as text if the rule allows it to be shown, else its shape."""
    if value is None:
        return "null"
    if isinstance(value, bool | int | float):  # the pipeline's numbers (counts, rows)
        return f"{value:g}" if isinstance(value, float) else str(value)
    text = str(value)
    if text.strip() == "":
        return "(blank)"
    if all(_allowed(part, allowed) for part in _PARTS.split(text.strip())):
        return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"
    return shape(text)


def _allowed(part: str, allowed: Collection[str]) -> bool:
    return (
        part == "" or part in vocabulary() or part in allowed or bool(_SMALL_NUMBER.fullmatch(part))
    )


def count_of(names: Collection[str], noun: str = "unknown column") -> str:
    """Unknown columns are reported by number only: a header can be a name."""
    return f"{len(names)} {noun}{'' if len(names) == 1 else 's'}"
