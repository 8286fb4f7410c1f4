"""What every part of the crosswalk schema shares: value spellings and their comparison."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

#: Spellings of "no value" used unless a crosswalk sets `missing_values` (compared
#: after trimming, lower-casing and collapsing inner whitespace). `NA` is deliberately
#: absent: it is Namibia.
DEFAULT_MISSING_VALUES: tuple[str, ...] = (
    "",
    "-",
    "--",
    "?",
    "n/a",
    "n.a.",
    "none",
    "null",
    "nil",
    "unknown",
    "not known",
    "not specified",
    "unspecified",
    "-99",
)
DEFAULT_TRUE_VALUES: tuple[str, ...] = ("true", "yes", "y", "1", "t")
DEFAULT_FALSE_VALUES: tuple[str, ...] = ("false", "no", "n", "0", "f")


class CrosswalkError(ValueError):
    """A crosswalk file is missing, unreadable or does not fit the schema or the standard."""


def normalize(value: str) -> str:
    """How source values are compared: trimmed, lower-case, inner whitespace collapsed."""
    return " ".join(value.split()).lower()


def yaml_text(value: Any) -> str:
    """YAML scalars as the text a delivery would hold (`true` -> 'true', 1 -> '1')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def normalized_list(value: Any) -> Any:
    """A YAML list of spellings as normalised text (anything else: left to the schema)."""
    return [normalize(yaml_text(v)) for v in value] if isinstance(value, list) else value


def text_mapping(value: Any) -> Any:
    """A YAML mapping with its keys and values as text (anything else: left to the schema)."""
    if isinstance(value, dict):
        return {yaml_text(k): yaml_text(v) for k, v in value.items()}
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
