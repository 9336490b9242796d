"""The format catalogue as a person asks for it: ``linkreg formats [--country] [--key-type]``."""

from __future__ import annotations

import polars as pl

from pipeline.config import Settings
from pipeline.operations.formats import formats_answer
from schemas.countries import load_country_aliases
from schemas.formats import load_catalogue


def formats_table(
    settings: Settings | None, *, country: str | None = None, key_type: str | None = None
) -> tuple[str, pl.DataFrame]:
    """(catalogue version, the rules that apply), read from the root's catalogue files if set."""
    catalogue = load_catalogue(
        formats_path=settings.formats_file if settings else None,
        key_types_path=settings.key_types_file if settings else None,
    )
    aliases = load_country_aliases(settings.country_aliases_file if settings else None)
    asked = pl.DataFrame(
        {"row": [1], "country": [country], "key_type": [key_type]},
        schema={"row": pl.Int64, "country": pl.String, "key_type": pl.String},
    )
    if country is None and key_type is None:
        asked = asked.clear()
    return catalogue.version, formats_answer(asked, catalogue=catalogue, aliases=aliases)
