"""Country codes as polars expressions: ISO 3166-1 alpha-2, the EU aliases, Belgium refused."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import iso3166
import polars as pl

PACKAGED_ALIASES = Path(__file__).with_name("country_aliases.csv")
HOME_COUNTRY = "BE"  # an INSZ is the Belgian number: a Belgian key is not a foreign key

_ISO_CODES = frozenset(iso3166.countries_by_alpha2)  # includes XK (Kosovo)
# One list value: is_in against a plain Series of the same type is deprecated in polars 2.
_FOREIGN_COUNTRIES = pl.Series(sorted(_ISO_CODES - {HOME_COUNTRY}), dtype=pl.String).implode()


class CountryAliasError(ValueError):
    """The country alias file cannot be read or holds a row that is not `alias,country`."""


def load_country_aliases(path: Path | None = None) -> dict[str, str]:
    """``alias,country`` rows such as ``EL,GR``, upper-cased; None reads the packaged file."""
    source = PACKAGED_ALIASES if path is None else path
    try:
        with source.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError) as exc:
        raise CountryAliasError(
            f"cannot read the country alias file {source}: {exc}; "
            "check `country_aliases_file` in linkreg.toml"
        ) from exc
    if header[:2] != ["alias", "country"]:
        raise CountryAliasError(f"{source}: the header must be `alias,country`, not {header}")
    return dict(_alias_row(row, line=line, source=source) for line, row in enumerate(rows, 2))


def _alias_row(row: Mapping[str, str | None], *, line: int, source: Path) -> tuple[str, str]:
    alias = (row["alias"] or "").strip().upper()
    country = (row["country"] or "").strip().upper()
    # An alias that is itself an ISO code would silently move a real country's links.
    if len(alias) != 2 or alias in _ISO_CODES or country not in _ISO_CODES:
        raise CountryAliasError(
            f"{source} line {line}: `{alias},{country}` is not an alias (two letters, not an "
            "ISO code) followed by an ISO 3166-1 alpha-2 code, as in `EL,GR`"
        )
    return alias, country


def normalise_country(expr: pl.Expr, *, aliases: Mapping[str, str]) -> pl.Expr:
    """Trimmed, upper-cased, aliases replaced by their ISO code; empty becomes null."""
    code = expr.str.strip_chars().str.to_uppercase()
    if aliases:
        code = code.replace({alias.upper(): country.upper() for alias, country in aliases.items()})
    return pl.when(code != "").then(code)


def is_valid_country(expr: pl.Expr) -> pl.Expr:
    """An ISO 3166-1 alpha-2 code other than BE; null stays null."""
    return pl.when(expr.is_not_null()).then(expr.is_in(_FOREIGN_COUNTRIES))
