"""Validates request rows: normalise, run the pandera model, give each row its reason."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from pipeline.contract import Operation, Reason
from schemas.countries import normalise_country
from schemas.dates import parse_date, parse_timestamp
from schemas.formats import Catalogue, apply_key_formats
from schemas.insz import insz_as_integer, normalise_insz
from schemas.requests import REASON_ORDER, bind

# The uniform shape of a validated chunk, whatever the operation: absent columns are null.
STAGED_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "ref": pl.String(),
    "reason": pl.String(),
    "message": pl.String(),
    "insz": pl.String(),
    "insz_int": pl.Int64(),
    "country": pl.String(),
    "key_type": pl.String(),
    "foreign_key": pl.String(),
    "valid_from": pl.String(),
    "valid_to": pl.String(),
    "valid_from_d": pl.Date(),
    "valid_to_d": pl.Date(),
    "as_of_d": pl.Date(),
    "recorded_at_ts": pl.Datetime("us", "UTC"),
    "change_reason": pl.String(),
}

_TEXT_COLUMNS = (
    "insz",
    "country",
    "key_type",
    "foreign_key",
    "valid_from",
    "valid_to",
    "as_of",
    "recorded_at",
    "change_reason",
)

_MESSAGES: dict[Reason, str] = {
    Reason.INVALID_INSZ: "not a valid national register or BIS number",
    Reason.INVALID_COUNTRY: "not an ISO 3166-1 alpha-2 code of a foreign country",
    Reason.UNKNOWN_KEY_TYPE: "not in the key-type list (see `linkreg formats`)",
    Reason.INVALID_PERIOD: "valid_from is after valid_to",
}


@dataclass(frozen=True)
class Rules:
    """What validation needs to know, fixed for one run so that answers are reproducible."""

    reference_date: dt.date
    catalogue: Catalogue
    country_aliases: Mapping[str, str]


def validate_chunk(chunk: pl.DataFrame, *, operation: Operation, rules: Rules) -> pl.DataFrame:
    """A chunk from the reader in, the staged rows out (``STAGED_SCHEMA``), one per request row."""
    normalised = normalise(chunk, rules=rules)
    model = bind(
        operation, reference_date=rules.reference_date, key_types=rules.catalogue.key_types
    )
    failures = _failures(model, normalised)
    return _staged(normalised, failures, catalogue=rules.catalogue)


def normalise(chunk: pl.DataFrame, *, rules: Rules) -> pl.DataFrame:
    """Trims, strips INSZ separators, upper-cases codes, normalises keys by their format rule."""
    frame = chunk.rename({"reason": "change_reason"}) if "reason" in chunk.columns else chunk
    missing = [name for name in _TEXT_COLUMNS if name not in frame.columns]
    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name) for name in missing)
    if "ref" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("ref"))
    trimmed = [
        _blank_to_null(pl.col(name).cast(pl.String).str.strip_chars()) for name in _TEXT_COLUMNS
    ]
    frame = frame.with_columns(trimmed).with_columns(
        normalise_insz(pl.col("insz")).alias("insz"),
        normalise_country(pl.col("country"), aliases=rules.country_aliases).alias("country"),
        pl.col("key_type").str.to_uppercase().alias("key_type"),
    )
    return apply_key_formats(frame, catalogue=rules.catalogue)


def _blank_to_null(text: pl.Expr) -> pl.Expr:
    return pl.when(text.str.len_bytes() > 0).then(text).otherwise(None)


def _failures(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> pl.DataFrame:
    """(index, reason, column) of every failed check; empty when the chunk is clean."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        known = [reason.value for reason in REASON_ORDER]
        unexpected = cases.filter(~pl.col("check").is_in(known))
        if unexpected.height:
            # A dtype or schema failure means the reader broke its promise: fail loudly.
            raise RuntimeError(
                f"request validation failed unexpectedly: {unexpected.head(3)}"
            ) from errors
        return cases.select(
            pl.col("index").cast(pl.Int64),
            pl.col("check").alias("reason"),
            pl.col("column"),
        )
    return pl.DataFrame(schema={"index": pl.Int64, "reason": pl.String, "column": pl.String})


def _staged(frame: pl.DataFrame, failures: pl.DataFrame, *, catalogue: Catalogue) -> pl.DataFrame:
    rank = {reason.value: position for position, reason in enumerate(REASON_ORDER)}
    first = (
        failures.with_columns(
            pl.col("reason").replace_strict(rank, return_dtype=pl.Int32).alias("rank")
        )
        .sort("index", "rank", "column")
        .unique("index", keep="first", maintain_order=True)
        .select("index", "reason", pl.col("column").alias("failed_column"))
    )
    frame = (
        frame.with_row_index("index")
        .with_columns(pl.col("index").cast(pl.Int64))
        .join(first, on="index", how="left", maintain_order="left")
    )
    reason = pl.col("reason")
    column = pl.col("failed_column")
    message = (
        pl.when(reason == Reason.MISSING_VALUE.value)
        .then(pl.format("`{}` is empty", _request_name(column)))
        .when(reason == Reason.INVALID_KEY_FORMAT.value)
        .then(catalogue.message_expr(pl.col("key_rule")))
        .when((reason == Reason.INVALID_DATE.value) & (column == "recorded_at"))
        .then(pl.lit("`recorded_at` is not an ISO 8601 timestamp with Z or an offset"))
        .when(reason == Reason.INVALID_DATE.value)
        .then(pl.format("`{}` is not a date YYYY-MM-DD that exists", column))
        .otherwise(reason.replace_strict(_messages(), default=None, return_dtype=pl.String))
    )
    valid = reason.is_null()
    return frame.select(
        pl.col("row").cast(pl.Int64),
        pl.col("ref").cast(pl.String),
        reason,
        message.alias("message"),
        pl.col("insz"),
        pl.when(valid).then(insz_as_integer(pl.col("insz"))).otherwise(None).alias("insz_int"),
        "country",
        "key_type",
        "foreign_key",
        "valid_from",
        "valid_to",
        parse_date(pl.col("valid_from")).alias("valid_from_d"),
        parse_date(pl.col("valid_to")).alias("valid_to_d"),
        parse_date(pl.col("as_of")).alias("as_of_d"),
        parse_timestamp(pl.col("recorded_at")).alias("recorded_at_ts"),
        "change_reason",
    ).cast(STAGED_SCHEMA)  # type: ignore[arg-type]


def _request_name(column: pl.Expr) -> pl.Expr:
    """The column name the sender wrote: the request's ``reason`` is ``change_reason`` inside."""
    return pl.when(column == "change_reason").then(pl.lit("reason")).otherwise(column)


def _messages() -> dict[str, str]:
    return {reason.value: text for reason, text in _MESSAGES.items()}
