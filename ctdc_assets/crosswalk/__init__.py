"""Declarative crosswalks: each contributor's delivery -> the CTDC standard.

`load_crosswalks` reads `crosswalks/*.yaml`, `read_delivery` reads a delivery as text,
`harmonize` applies a crosswalk. Schema reference: `crosswalks/README.md`.
"""

from ctdc_assets.crosswalk.engine import COUNT_NAMES, Harmonized, harmonize
from ctdc_assets.crosswalk.model import Crosswalk, CrosswalkError
from ctdc_assets.crosswalk.model_load import load_crosswalk, load_crosswalks
from ctdc_assets.crosswalk.readers import DeliveryError, read_delivery, unexpected_columns

__all__ = [
    "COUNT_NAMES",
    "Crosswalk",
    "CrosswalkError",
    "DeliveryError",
    "Harmonized",
    "harmonize",
    "load_crosswalk",
    "load_crosswalks",
    "read_delivery",
    "unexpected_columns",
]
