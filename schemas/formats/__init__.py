"""The format catalogue: per-country key rules as data, and their checks as polars expressions."""

from schemas.formats.apply import apply_key_formats, evaluate
from schemas.formats.catalogue import (
    ANY,
    DEFAULT_RULE,
    EIDAS_RULE,
    Catalogue,
    CatalogueError,
    Rule,
    load_catalogue,
)
from schemas.formats.generate import generate_valid_keys

__all__ = [
    "ANY",
    "DEFAULT_RULE",
    "EIDAS_RULE",
    "Catalogue",
    "CatalogueError",
    "Rule",
    "apply_key_formats",
    "evaluate",
    "generate_valid_keys",
    "load_catalogue",
]
