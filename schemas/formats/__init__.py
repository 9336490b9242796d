"""The format catalogue: per-country key rules kept as data, their checks as polars expressions.

``load_catalogue`` reads the rules and key types (afresh on every call), ``apply_key_formats``
normalises and checks a whole column of foreign keys, ``generate_valid_keys`` draws synthetic
keys that follow a rule.
"""

from schemas.formats.apply import apply_key_formats
from schemas.formats.catalogue import (
    Catalogue,
    CatalogueError,
    format_message,
    format_message_expr,
    load_catalogue,
)
from schemas.formats.generate import generate_valid_keys
from schemas.formats.rule import ANY, DEFAULT_RULE, EIDAS_RULE, REFUSED, Rule

__all__ = [
    "ANY",
    "DEFAULT_RULE",
    "EIDAS_RULE",
    "REFUSED",
    "Catalogue",
    "CatalogueError",
    "Rule",
    "apply_key_formats",
    "format_message",
    "format_message_expr",
    "generate_valid_keys",
    "load_catalogue",
]
