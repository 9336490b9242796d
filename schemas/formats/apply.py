"""Applies the catalogue to whole columns: each row is routed to its rule, each rule is evaluated
once over its own rows only, and the answers land back on their rows in the original order."""

from __future__ import annotations

import polars as pl

from schemas.formats.catalogue import Catalogue
from schemas.formats.rule import ANY, DEFAULT_RULE, EIDAS_RULE, KEY_FORMAT_OK, Rule

KEY_RULE = "key_rule"
# Without a key type (a lookup by key), a key of this shape is taken for an eIDAS identifier.
EIDAS_SHAPE = r"^\s*[A-Za-z]{2}/[A-Za-z]{2}/"

_ROW = "__key_row"
_CHANGED = "__key_changed"  # the normalised key, where it differs from the key as sent
_SEED = 20261129
_HASH_COUNTRY, _HASH_KEY_TYPE, _HASH_PAIR = "__hash_country", "__hash_key_type", "__hash_pair"
_UNTYPED, _BUCKET = "__untyped", "__bucket_"
_UNTYPED_BUCKET = "__untyped_bucket"


def apply_key_formats(frame: pl.DataFrame, *, catalogue: Catalogue) -> pl.DataFrame:
    """``foreign_key`` normalised by its rule, plus ``key_rule`` (the rule id) and
    ``key_format_ok`` (null when there is no key); same rows, same order, other columns as
    they were.

    The rule of a row: the exact (country, key type) rule, else the country's rule for every
    key type, else the rule for that key type in every country, else DEFAULT. Unknown key
    types and invalid countries get DEFAULT too: other checks reject those rows.

    Without a key type (a lookup by key), an eIDAS-shaped key follows the EIDAS rule; any other
    key the first rule of its country that it satisfies (so that ``123.456.782`` finds the BSN
    stored as ``123456782``), else DEFAULT.

    A frame without a single key (an INSZ lookup) has nothing to check: its ``key_rule`` is
    null too, and the routing is skipped (4-5 ms of every 250k-row chunk).
    """
    if frame["foreign_key"].null_count() == frame.height:
        return frame.with_columns(
            pl.lit(None, pl.String).alias(KEY_RULE), pl.lit(None, pl.Boolean).alias(KEY_FORMAT_OK)
        )
    rules = catalogue.rules
    codes = route(frame, catalogue=catalogue)
    keys = frame.select("country", "foreign_key")
    key, valid = _evaluate_by_rule(keys, codes, rules)
    untyped = frame["key_type"].is_null()
    _try_next_rules(keys, untyped=untyped, codes=codes, key=key, valid=valid, rules=rules)
    rule_ids = pl.Series(KEY_RULE, [rule.rule_id for rule in rules], dtype=pl.String)
    return frame.with_columns(key, rule_ids.gather(codes), valid)


def route(frame: pl.DataFrame, *, catalogue: Catalogue) -> pl.Series:
    """The index in ``catalogue.rules`` of each row's rule (a small-integer column).

    A hash join against the few (country, key type) pairs, countries and key types that the
    rules name: each row's values are hashed once, the bucket of the hash in a small table
    gives a candidate rule, and the full 64-bit hashes are compared, so that a pair which the
    catalogue does not name never takes another's rule (it would take a 64-bit collision).
    Comparing strings row by row, or a general join, costs several times more.

    A key without a key type gets the first rule of its country (``_try_next_rules`` takes
    it on if that rule refuses it), an eIDAS-shaped one the EIDAS rule.
    """
    rules = catalogue.rules
    default = pl.lit(_index(rules, DEFAULT_RULE), pl.UInt16)
    hashed = (
        frame.lazy()
        .select(
            pl.col("country").hash(_SEED).alias(_HASH_COUNTRY),
            pl.col("key_type").hash(_SEED + 1).alias(_HASH_KEY_TYPE),
            pl.col("key_type").is_null().alias(_UNTYPED),
            "foreign_key",
        )
        .with_columns((pl.col(_HASH_COUNTRY) ^ pl.col(_HASH_KEY_TYPE)).alias(_HASH_PAIR))
    )
    tables = _lookup_tables(rules)
    hashed = hashed.with_columns(  # materialised: a gather by a plain column is much faster
        (pl.col(column) % len(bucket_hash)).alias(f"{_BUCKET}{number}")
        for number, (column, bucket_hash, _) in enumerate(tables)
    )
    candidates = [
        pl.when(pl.lit(bucket_hash).gather(pl.col(f"{_BUCKET}{number}")) == pl.col(column)).then(
            pl.lit(bucket_rule).gather(pl.col(f"{_BUCKET}{number}"))
        )
        for number, (column, bucket_hash, bucket_rule) in enumerate(tables)
    ]
    code = pl.coalesce(*candidates, default) if candidates else default
    any_untyped = frame["key_type"].null_count() > 0
    untyped_code: pl.Expr = default
    first_rules = _first_rules_by_country(rules)
    if first_rules is not None and any_untyped:
        bucket_hash, bucket_rule = first_rules
        hashed = hashed.with_columns(
            (pl.col(_HASH_COUNTRY) % len(bucket_hash)).alias(_UNTYPED_BUCKET)
        )
        bucket = pl.col(_UNTYPED_BUCKET)
        untyped_code = (
            pl.when(
                pl.col("foreign_key").is_not_null()
                & (pl.lit(bucket_hash).gather(bucket) == pl.col(_HASH_COUNTRY))
            )
            .then(pl.lit(bucket_rule).gather(bucket))
            .otherwise(default)
        )
    code = pl.when(pl.col(_UNTYPED)).then(untyped_code).otherwise(code)
    eidas = [number for number, rule in enumerate(rules) if rule.rule_id == EIDAS_RULE]
    if eidas and any_untyped:
        shaped = pl.col(_UNTYPED) & pl.col("foreign_key").str.contains(EIDAS_SHAPE)
        code = pl.when(shaped).then(pl.lit(eidas[0], pl.UInt16)).otherwise(code)
    return hashed.select(code.alias(KEY_RULE)).collect().to_series()


def _try_next_rules(
    keys: pl.DataFrame,
    *,
    untyped: pl.Series,
    codes: pl.Series,
    key: pl.Series,
    valid: pl.Series,
    rules: tuple[Rule, ...],
) -> None:
    """Keys without a key type that their country's rule refused (``route`` gave them its
    first) try the country's next rule, in catalogue order, then DEFAULT: each round over the
    refused rows only, from the key as sent. ``codes``, ``key`` and ``valid`` are updated in
    place."""
    following = _following_rules(rules)
    waiting = untyped & ~valid.fill_null(True) & (following.gather(codes) != codes)
    rows = waiting.arg_true()
    while rows.len():
        tried = following.gather(codes.gather(rows))
        codes.scatter(rows, tried)
        tried_key, tried_valid = _evaluate_by_rule(keys[rows], tried, rules)
        key.scatter(rows, tried_key)
        valid.scatter(rows, tried_valid)
        refused = ~tried_valid.fill_null(True) & (following.gather(tried) != tried)
        rows = rows.filter(refused)


def _first_rules_by_country(rules: tuple[Rule, ...]) -> tuple[pl.Series, pl.Series] | None:
    """(bucket hashes, bucket rules) of the first rule of each country that has rules, in
    catalogue order: the rule a key without a key type tries first (``_buckets``)."""
    first: dict[str, int] = {}
    for number, rule in enumerate(rules):
        if rule.country != ANY:
            first.setdefault(rule.country, number)
    if not first:
        return None
    return _buckets(_hashes(list(first)).to_list(), list(first.values()))


def _following_rules(rules: tuple[Rule, ...]) -> pl.Series:
    """Per rule, the rule that a key without a key type tries after it: its country's next
    rule in catalogue order, else DEFAULT; a rule of no country (DEFAULT, EIDAS, a rule for a
    key type in every country) is followed by itself (nothing more to try)."""
    default = _index(rules, DEFAULT_RULE)
    following = list(range(len(rules)))
    last: dict[str, int] = {}
    for number, rule in enumerate(rules):
        if rule.country == ANY:
            continue
        if rule.country in last:
            following[last[rule.country]] = number
        last[rule.country] = number
        following[number] = default
    return pl.Series(KEY_RULE, following, dtype=pl.UInt16)


def _lookup_tables(rules: tuple[Rule, ...]) -> list[tuple[str, pl.Series, pl.Series]]:
    """(hashed column, bucket hashes, bucket rules) in precedence order: exact pairs, then
    countries for every key type, then key types for every country."""
    pairs: dict[tuple[str, str], int] = {}
    countries: dict[str, int] = {}
    key_types: dict[str, int] = {}
    for number, rule in enumerate(rules):
        if rule.rule_id == DEFAULT_RULE:
            continue
        for key_type in rule.key_types:
            if ANY not in (rule.country, key_type):
                pairs[(rule.country, key_type)] = number
            elif rule.country != ANY:
                countries[rule.country] = number
            else:
                key_types[key_type] = number
    pair_hashes = _hashes([country for country, _ in pairs]) ^ _hashes(
        [key_type for _, key_type in pairs], offset=1
    )
    wanted = [
        (_HASH_PAIR, pair_hashes, list(pairs.values())),
        (_HASH_COUNTRY, _hashes(list(countries)), list(countries.values())),
        (_HASH_KEY_TYPE, _hashes(list(key_types), offset=1), list(key_types.values())),
    ]
    return [(column, *_buckets(known.to_list(), codes)) for column, known, codes in wanted if codes]


def _hashes(values: list[str], *, offset: int = 0) -> pl.Series:
    """What ``pl.col(...).hash(_SEED + offset)`` gives these values in a column."""
    return pl.Series(values, dtype=pl.String).hash(_SEED + offset)


def _buckets(known: list[int], rules: list[int]) -> tuple[pl.Series, pl.Series]:
    """(hash, rule) per bucket: the smallest table of at least four buckets per value in
    which no two known hashes share a bucket (``hash % len``)."""
    size = 4 * len(known) + 1
    while len({value % size for value in known}) < len(known):
        size += 1
    bucket_hash = [0] * size
    bucket_rule = [0] * size
    for value, rule in zip(known, rules, strict=True):
        bucket_hash[value % size] = value
        bucket_rule[value % size] = rule
    return pl.Series(bucket_hash, dtype=pl.UInt64), pl.Series(bucket_rule, dtype=pl.UInt16)


def _index(rules: tuple[Rule, ...], rule_id: str) -> int:
    return next(number for number, rule in enumerate(rules) if rule.rule_id == rule_id)


def _evaluate_by_rule(
    keys: pl.DataFrame, codes: pl.Series, rules: tuple[Rule, ...]
) -> tuple[pl.Series, pl.Series]:
    """Every rule over its own rows (a filter each, all in one query that runs them in
    parallel); the verdicts are scattered back onto their rows, and so are the keys that the
    normalisation changed (most keys arrive normalised already). A single rule runs over the
    whole frame."""
    present = codes.unique().to_list()
    if len(present) == 1:
        checked = rules[present[0]].evaluate(keys.lazy()).collect()
        return checked["foreign_key"], checked[KEY_FORMAT_OK]
    indexed = keys.lazy().with_columns(codes).with_row_index(_ROW)
    parts = [_answers(rules[code], indexed.filter(pl.col(KEY_RULE) == code)) for code in present]
    answers = pl.concat(parts).collect()
    valid = pl.repeat(None, keys.height, dtype=pl.Boolean, eager=True).alias(KEY_FORMAT_OK)
    valid.scatter(answers[_ROW], answers[KEY_FORMAT_OK])
    changed = answers.filter(pl.col(_CHANGED).is_not_null())
    key = keys["foreign_key"].clone()
    if changed.height:
        key.scatter(changed[_ROW], changed[_CHANGED])
    return key, valid


def _answers(rule: Rule, rows: pl.LazyFrame) -> pl.LazyFrame:
    """``rows`` under ``rule``: (row, ``key_format_ok``, the normalised key where it differs
    from the key as sent)."""
    key = pl.col("foreign_key")
    return rule.evaluate(rows.with_columns(key.alias(_CHANGED))).select(
        _ROW, KEY_FORMAT_OK, pl.when(key != pl.col(_CHANGED)).then(key).alias(_CHANGED)
    )
