"""The format catalogue: versioned data (country, key type, rule, check), loaded per run."""

from __future__ import annotations

import csv
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from schemas.formats.algorithms import CHECKS
from schemas.formats.normalisation import NORMALISATIONS

PACKAGED_FORMATS = Path(__file__).with_name("catalogue.csv")
PACKAGED_VERSION = Path(__file__).with_name("catalogue.toml")
PACKAGED_KEY_TYPES = Path(__file__).parent.parent / "key_types.csv"

ANY = "*"
DEFAULT_RULE = "DEFAULT"
EIDAS_RULE = "EIDAS"
_COLUMNS = (
    "rule_id",
    "country",
    "key_type",
    "pattern",
    "check",
    "normalisation",
    "description",
    "example",
)


class CatalogueError(ValueError):
    """A catalogue or key-type file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Rule:
    """How the keys of one country (or any) and some key types must look."""

    rule_id: str
    country: str
    key_types: tuple[str, ...]
    pattern: str
    check: str
    normalisation: str
    description: str
    example: str


@dataclass(frozen=True)
class Catalogue:
    """The rules, the key types, and the version that answers name."""

    version: str
    rules: tuple[Rule, ...]
    key_types: frozenset[str]
    exclusive_key_types: frozenset[str]  # one key at a time per INSZ and country

    def rule(self, rule_id: str) -> Rule:
        return next(rule for rule in self.rules if rule.rule_id == rule_id)

    def rule_for(self, country: str | None, key_type: str | None) -> Rule:
        """Exact (country, key type), else (country, any), else (any, key type), else DEFAULT."""
        for wanted_country, wanted_type in ((country, key_type), (country, ANY), (ANY, key_type)):
            for rule in self.rules:
                if rule.country == wanted_country and wanted_type in rule.key_types:
                    return rule
        return self.rule(DEFAULT_RULE)

    def rules_frame(self) -> pl.DataFrame:
        """One row per (country, key type, rule): the ``formats`` answer."""
        return pl.DataFrame(
            [
                {
                    "country": rule.country,
                    "key_type": key_type,
                    "rule_id": rule.rule_id,
                    "description": rule.description,
                    "pattern": rule.pattern or None,
                    "check": rule.check or None,
                    "normalisation": rule.normalisation,
                    "example": rule.example,
                }
                for rule in self.rules
                for key_type in rule.key_types
            ],
            schema={
                name: pl.String
                for name in (
                    "country",
                    "key_type",
                    "rule_id",
                    "description",
                    "pattern",
                    "check",
                    "normalisation",
                    "example",
                )
            },
        )

    def message_expr(self, rule_id: pl.Expr) -> pl.Expr:
        """``key breaks rule NL-BSN (BSN: ...; catalogue 2026.11.1)`` for each row."""
        descriptions = {rule.rule_id: rule.description for rule in self.rules}
        return pl.format(
            "key breaks rule {} ({}; catalogue {})",
            rule_id,
            rule_id.replace_strict(descriptions, default="", return_dtype=pl.String),
            pl.lit(self.version),
        )


def load_catalogue(
    *, formats_path: Path | None = None, key_types_path: Path | None = None
) -> Catalogue:
    """Reads the catalogue afresh (no cache: a data change takes effect at the next run)."""
    formats = formats_path or PACKAGED_FORMATS
    version_path = formats.with_suffix(".toml")
    key_types, exclusive = _load_key_types(key_types_path or PACKAGED_KEY_TYPES)
    rules = _load_rules(formats, key_types)
    try:
        version = str(tomllib.loads(version_path.read_text(encoding="utf-8"))["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f'{version_path}: needs `version = "..."` ({exc})') from exc
    if not any(rule.rule_id == DEFAULT_RULE for rule in rules):
        raise CatalogueError(f"{formats}: the DEFAULT rule is missing")
    return Catalogue(version, rules, key_types, exclusive)


def _load_key_types(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    rows = _read_csv(path, ("key_type", "periods", "description"))
    known, exclusive = set(), set()
    for line, row in rows:
        code = row["key_type"].strip().upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", code):
            raise CatalogueError(f"{path} line {line}: key type `{code}` must be A-Z, 0-9 and _")
        if row["periods"] not in ("one", "many"):
            raise CatalogueError(f"{path} line {line}: periods must be `one` or `many`")
        known.add(code)
        if row["periods"] == "one":
            exclusive.add(code)
    return frozenset(known), frozenset(exclusive)


def _load_rules(path: Path, key_types: frozenset[str]) -> tuple[Rule, ...]:
    rules = []
    seen: set[tuple[str, str]] = set()
    for line, row in _read_csv(path, _COLUMNS):
        where = f"{path} line {line}"
        types = tuple(t.strip().upper() for t in row["key_type"].split("|"))
        unknown = [t for t in types if t != ANY and t not in key_types]
        if unknown:
            raise CatalogueError(
                f"{where}: unknown key type {unknown[0]} (add it to key_types.csv)"
            )
        if row["check"] and row["check"] not in CHECKS:
            raise CatalogueError(
                f"{where}: unknown check `{row['check']}`; known: {', '.join(CHECKS)}"
            )
        if row["normalisation"] not in NORMALISATIONS:
            raise CatalogueError(
                f"{where}: unknown normalisation `{row['normalisation']}`; known: "
                f"{', '.join(NORMALISATIONS)}"
            )
        try:
            re.compile(row["pattern"])
        except re.error as exc:
            raise CatalogueError(f"{where}: pattern does not compile: {exc}") from exc
        country = row["country"].strip().upper()
        for key_type in types:
            if (country, key_type) in seen:
                raise CatalogueError(f"{where}: a second rule for {country} {key_type}")
            seen.add((country, key_type))
        rules.append(
            Rule(
                row["rule_id"].strip(),
                country,
                types,
                row["pattern"],
                row["check"],
                row["normalisation"],
                row["description"],
                row["example"],
            )
        )
    return tuple(rules)


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = set(columns) - set(reader.fieldnames or ())
            if missing:
                raise CatalogueError(f"{path} line 1: missing columns {', '.join(sorted(missing))}")
            return [
                (number, {k: (v or "").strip() for k, v in row.items() if k})
                for number, row in enumerate(reader, start=2)
            ]
    except OSError as exc:
        raise CatalogueError(f"{path}: {exc}") from exc
