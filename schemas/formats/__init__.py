"""The format catalogue: per-country key rules kept as data, their checks as polars expressions.

``load_catalogue`` reads the rules and key types (afresh on every call), ``apply_key_formats``
normalises and checks a whole column of foreign keys. ``schemas.formats.generate`` draws
synthetic keys that follow a rule (for the demo and tests; the processor does not import it).
"""

from schemas.formats.apply import apply_key_formats
from schemas.formats.catalogue import (
    Catalogue,
    CatalogueError,
    format_message,
    format_message_expr,
    load_catalogue,
)
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
    "load_catalogue",
]
