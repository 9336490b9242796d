"""The format catalogue: versioned data (rules per country and key type, the key types), read
afresh on every load so that a data change takes effect at the next run."""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from schemas.formats.algorithms import CHECKS
from schemas.formats.normalisation import NormalisationError, parse_normalisation
from schemas.formats.rule import (
    ANY,
    BUILT_IN_DEFAULT,
    DEFAULT_RULE,
    KEY_FORMAT_OK,
    KEY_TYPE_SEPARATOR,
    Rule,
)

PACKAGED_FORMATS = Path(__file__).with_name("catalogue.csv")
PACKAGED_KEY_TYPES = Path(__file__).parent.parent / "key_types.csv"

RULE_COLUMNS = ("rule_id", "country", "key_type", "pattern", "check", "normalisation",
                "description", "example")  # fmt: skip
_RULE_ID = re.compile(r"[A-Z0-9][A-Z0-9_-]*")
_KEY_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")
_COUNTRY = re.compile(r"[A-Z]{2}")
_VERSION = re.compile(r"\d{4}\.\d{1,2}\.\d+")


class CatalogueError(ValueError):
    """A catalogue or key-type file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Catalogue:
    """The rules, the key types, and the version that answers and messages name."""

    version: str
    rules: tuple[Rule, ...]
    key_types: frozenset[str]
    exclusive_key_types: frozenset[str] = frozenset()  # one key at a time per INSZ and country

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id; KeyError when there is none."""
        for rule in self.rules:
            if rule.rule_id == rule_id:
                return rule
        raise KeyError(f"no rule {rule_id} in catalogue {self.version}")

    def rule_for(self, country: str | None, key_type: str | None) -> Rule:
        """Exact (country, key type), else (country, ``*``), else (``*``, key type), else DEFAULT.

        For a whole column use ``apply_key_formats``, which also handles a missing key type
        from the key itself.
        """
        wanted = [(country, key_type), (country, ANY), (ANY, key_type)]
        for wanted_country, wanted_type in wanted:
            for rule in self.rules:
                if rule.rule_id == DEFAULT_RULE:
                    continue
                if rule.country == wanted_country and wanted_type in rule.key_types:
                    return rule
        return self.rule(DEFAULT_RULE)

    def message_expr(self, rule_col: pl.Expr) -> pl.Expr:
        """``format_message_expr`` with this catalogue's version."""
        return format_message_expr(rule_col, self.version)

    def rules_frame(self) -> pl.DataFrame:
        """The rules for the ``formats`` answer: one row per rule and key type it covers."""
        rows = [
            (rule.rule_id, rule.country, key_type, rule.pattern or None, rule.check or None,
             rule.normalisation, rule.description, rule.example)
            for rule in self.rules
            for key_type in rule.key_types
        ]  # fmt: skip
        return pl.DataFrame(rows, schema=dict.fromkeys(RULE_COLUMNS, pl.String), orient="row")


def format_message(rule_id: str, version: str) -> str:
    """The ``INVALID_KEY_FORMAT`` message: ``key breaks rule NL-BSN (catalogue 2026.11.1)``."""
    return f"key breaks rule {rule_id} (catalogue {version})"


def format_message_expr(rule_col: pl.Expr, version: str) -> pl.Expr:
    """``format_message`` for a whole column of rule ids."""
    return pl.format("key breaks rule {} (catalogue {})", rule_col, pl.lit(version))


def load_catalogue(
    *, formats_path: Path | None = None, key_types_path: Path | None = None
) -> Catalogue:
    """Reads the catalogue (``catalogue.csv`` and its sibling ``.toml`` with the version) and the
    key types; None means the packaged files. Raises CatalogueError naming file and line.

    A catalogue given as a path tests itself: every example must follow its own rule. The
    packaged one is tested by the test suite instead (``test_the_packaged_examples``): its
    examples are the same in every run, and evaluating them costs each process about 50 ms.
    """
    formats = formats_path or PACKAGED_FORMATS
    key_types, exclusive = _load_key_types(key_types_path or PACKAGED_KEY_TYPES)
    rules = _load_rules(formats, key_types, check_examples=formats_path is not None)
    if all(rule.rule_id != DEFAULT_RULE for rule in rules):
        rules = (*rules, BUILT_IN_DEFAULT)
    return Catalogue(
        version=_load_version(formats.with_suffix(".toml")),
        rules=rules,
        key_types=key_types,
        exclusive_key_types=exclusive,
    )


def _load_version(path: Path) -> str:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot read the catalogue version ({exc})") from exc
    version = document.get("version")
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise CatalogueError(f'{path}: needs `version = "YYYY.M.N"`, e.g. "2026.11.1"')
    return version


def _load_key_types(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    """``key_type,description`` rows, optionally ``periods`` (``one``: one key at a time)."""
    known: set[str] = set()
    exclusive: set[str] = set()
    for line, row in _rows(path, ("key_type", "description")):
        code = row["key_type"]
        if not _KEY_TYPE.fullmatch(code):
            raise CatalogueError(f"{path} line {line}: key type `{code}` must be A-Z, 0-9 and _")
        if code in known:
            raise CatalogueError(f"{path} line {line}: key type {code} is listed twice")
        periods = row.get("periods") or "many"
        if periods not in ("one", "many"):
            raise CatalogueError(f"{path} line {line}: periods must be `one` or `many`")
        known.add(code)
        if periods == "one":
            exclusive.add(code)
    if not known:
        raise CatalogueError(f"{path}: no key types")
    return frozenset(known), frozenset(exclusive)


def _load_rules(path: Path, key_types: frozenset[str], *, check_examples: bool) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    lines: list[int] = []
    claimed: dict[tuple[str, str], str] = {}
    for line, row in _rows(path, RULE_COLUMNS):
        where = f"{path} line {line}"
        rule = Rule(**{name: row[name] for name in RULE_COLUMNS})
        _check_rule(rule, key_types, where=where)
        if any(known.rule_id == rule.rule_id for known in rules):
            raise CatalogueError(f"{where}: rule id {rule.rule_id} is used twice")
        for key_type in rule.key_types:
            earlier = claimed.setdefault((rule.country, key_type), rule.rule_id)
            if earlier != rule.rule_id:
                raise CatalogueError(
                    f"{where}: {rule.country} {key_type} already has rule {earlier}"
                )
        rules.append(rule)
        lines.append(line)
    if check_examples:
        _check_examples(path, rules, lines)
    return tuple(rules)


def _check_rule(rule: Rule, key_types: frozenset[str], *, where: str) -> None:
    """One row on its own: ids, codes, check and normalisation names, the pattern."""
    if not _RULE_ID.fullmatch(rule.rule_id):
        raise CatalogueError(f"{where}: rule id `{rule.rule_id}` must be A-Z, 0-9, - and _")
    if rule.country != ANY and not _COUNTRY.fullmatch(rule.country):
        raise CatalogueError(f"{where}: country `{rule.country}` is not `*` or a code like NL")
    everything = rule.country == ANY and rule.key_type == ANY
    if everything != (rule.rule_id == DEFAULT_RULE):
        raise CatalogueError(f"{where}: only DEFAULT applies to every country and key type (*,*)")
    for key_type in rule.key_types:
        if key_type != ANY and key_type not in key_types:
            raise CatalogueError(
                f"{where}: unknown key type `{key_type}` (add it to key_types.csv first;"
                f" several key types are joined by `{KEY_TYPE_SEPARATOR}`)"
            )
    if ANY in rule.key_types and len(rule.key_types) > 1:
        raise CatalogueError(f"{where}: key type `*` cannot be combined with others")
    if rule.check and rule.check not in CHECKS:
        raise CatalogueError(f"{where}: unknown check `{rule.check}`; known: {', '.join(CHECKS)}")
    try:
        parse_normalisation(rule.normalisation)
    except NormalisationError as exc:
        raise CatalogueError(f"{where}: normalisation: {exc}") from exc
    try:  # polars' (Rust) regex syntax, which differs a little from Python's
        pl.Series([rule.example], dtype=pl.String).str.contains(rule.pattern or "x")
    except pl.exceptions.PolarsError as exc:
        raise CatalogueError(f"{where}: pattern does not compile: {exc}") from exc
    if not rule.description or not rule.example:
        raise CatalogueError(f"{where}: every rule needs a description and an example")


def _check_examples(path: Path, rules: list[Rule], lines: list[int]) -> None:
    """Every example must follow its own rule: the catalogue tests itself when it is loaded."""
    checks = []
    for rule in rules:
        # A rule for any country (eIDAS) is tried with the country its example names.
        country = rule.country if rule.country != ANY else rule.example[:2]
        example = pl.LazyFrame({"country": [country], "foreign_key": [rule.example]})
        checks.append(rule.evaluate(example).select(KEY_FORMAT_OK))
    verdicts = pl.concat(checks).collect()[KEY_FORMAT_OK] if checks else pl.Series([])
    for line, rule, valid in zip(lines, rules, verdicts, strict=True):
        if not valid:
            raise CatalogueError(
                f"{path} line {line}: example {rule.example!r} breaks rule {rule.rule_id}"
            )


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a small CSV file; values trimmed, empty lines skipped."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in required if name not in (reader.fieldnames or ())]
            if missing:
                raise CatalogueError(f"{path} line 1: missing column(s) {', '.join(missing)}")
            for row in reader:
                if None in row:
                    raise CatalogueError(f"{path} line {reader.line_num}: too many values")
                values = {name: (value or "").strip() for name, value in row.items()}
                if any(values.values()):
                    yield reader.line_num, values
    except OSError as exc:
        raise CatalogueError(f"{path}: {exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CatalogueError(f"{path}: not a UTF-8 CSV file ({exc})") from exc
