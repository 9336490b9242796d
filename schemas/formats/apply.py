"""Applies the catalogue to a whole column of keys: each row routed to its rule, evaluated once."""

from __future__ import annotations

import polars as pl

from schemas.formats.algorithms import CHECKS
from schemas.formats.catalogue import ANY, DEFAULT_RULE, EIDAS_RULE, Catalogue, Rule
from schemas.formats.normalisation import NORMALISATIONS

# Every rule also refuses what a spreadsheet would run as a formula, and control characters.
_REFUSED = r"^[=+\-@]|\p{Cc}"
_EIDAS_SHAPE = r"^[A-Za-z]{2}/[A-Za-z]{2}/"
_ROW = "__key_row"
_RULE = "key_rule"


def apply_key_formats(frame: pl.DataFrame, *, catalogue: Catalogue) -> pl.DataFrame:
    """Normalises ``foreign_key`` by its rule and adds ``key_rule`` and ``key_format_ok``.

    The rule of a row: the exact (country, key type) rule, else the country's rule for any key
    type, else the rule for that key type in any country, else DEFAULT. Without a key type (a
    lookup by key), an eIDAS-shaped key takes the eIDAS rule, other keys take the first of
    their country's rules that they satisfy, else DEFAULT. Rows are grouped by rule so each rule
    runs only over its own rows; the row order is kept.
    """
    indexed = frame.with_row_index(_ROW).with_columns(_assigned_rule(catalogue))
    typed = indexed.filter(pl.col(_RULE).is_not_null())
    parts = [
        evaluate(part, catalogue.rule(str(rule_id)))
        for (rule_id,), part in typed.partition_by(_RULE, as_dict=True).items()
    ]
    parts.extend(_untyped(indexed.filter(pl.col(_RULE).is_null()), catalogue))
    if not parts:
        return frame.with_columns(
            pl.lit(None, pl.String).alias(_RULE), pl.lit(None, pl.Boolean).alias("key_format_ok")
        )
    return (
        pl.concat(parts, how="diagonal_relaxed")
        .sort(_ROW)
        .drop(_ROW)
        .select(*frame.columns, _RULE, "key_format_ok")
    )


def evaluate(part: pl.DataFrame, rule: Rule) -> pl.DataFrame:
    """One rule over its rows: normalise, refuse formula-like keys, match the pattern, check."""
    raw = pl.col("foreign_key")
    normalised = NORMALISATIONS[rule.normalisation](raw)
    shaped = normalised.str.contains(rule.pattern) if rule.pattern else pl.lit(True)
    checked = CHECKS[rule.check](normalised, pl.col("country")) if rule.check else pl.lit(True)
    refused = raw.str.strip_chars().str.contains(_REFUSED)
    ok = (~refused & shaped & checked).fill_null(False)
    # Lazy, so that the digits a check reads several times are computed once (CSE).
    return (
        part.lazy()
        .with_columns(
            normalised.alias("foreign_key"),
            pl.lit(rule.rule_id).alias(_RULE),
            pl.when(raw.is_null()).then(None).otherwise(ok).alias("key_format_ok"),
        )
        .collect()
    )


def _assigned_rule(catalogue: Catalogue) -> pl.Expr:
    """The rule id per row; null for rows without a key type that must try their country."""
    country, key_type = pl.col("country"), pl.col("key_type")
    exact = {(r.country, t): r.rule_id for r in catalogue.rules for t in r.key_types}
    by_pair = pl.concat_str([country.fill_null(""), key_type.fill_null("")], separator="|")
    pairs = {f"{c}|{t}": rule for (c, t), rule in exact.items() if ANY not in (c, t)}
    whole_country = {c: rule for (c, t), rule in exact.items() if c != ANY and t == ANY}
    any_country = {t: rule for (c, t), rule in exact.items() if c == ANY and t != ANY}
    typed = pl.coalesce(
        by_pair.replace_strict(pairs, default=None, return_dtype=pl.String),
        country.replace_strict(whole_country, default=None, return_dtype=pl.String),
        key_type.replace_strict(any_country, default=None, return_dtype=pl.String),
        pl.lit(DEFAULT_RULE),
    )
    countries_with_rules = sorted({r.country for r in catalogue.rules if r.country != ANY})
    return (
        pl.when(key_type.is_not_null())
        .then(typed)
        .when(pl.col("foreign_key").str.strip_chars().str.contains(_EIDAS_SHAPE))
        .then(pl.lit(EIDAS_RULE))
        .when(country.is_in(countries_with_rules))
        .then(None)
        .otherwise(pl.lit(DEFAULT_RULE))
        .alias(_RULE)
    )


def _untyped(rows: pl.DataFrame, catalogue: Catalogue) -> list[pl.DataFrame]:
    """Rows without a key type try their country's rules in catalogue order, then DEFAULT."""
    parts = []
    for rule in catalogue.rules:
        if rows.height == 0:
            break
        if rule.country == ANY:
            continue
        candidates = rows.filter(pl.col("country") == rule.country)
        if candidates.height == 0:
            continue
        tried = evaluate(candidates, rule).filter(pl.col("key_format_ok"))
        parts.append(tried)
        rows = rows.join(tried.select(_ROW), on=_ROW, how="anti")
    if rows.height:
        parts.append(evaluate(rows.drop(_RULE), catalogue.rule(DEFAULT_RULE)))
    return parts
