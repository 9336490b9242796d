"""``pipeline.validation``: its shortcuts (codes and dates normalised once per distinct value,
INSZ that arrive as 11 digits left alone, empty columns skipped, and their checks) change no
answer."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandera.polars as pa
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.contract import Operation
from pipeline.validation import STAGED_SCHEMA, Rules, _failures, normalise, validate_chunk
from schemas.countries import load_country_aliases, normalise_country
from schemas.dates import parse_date, parse_timestamp
from schemas.formats import load_catalogue
from schemas.insz import insz_number, normalise_insz
from schemas.requests import MODELS, bind
from tests.conftest import INSZ_1990, INSZ_2001

RULES = Rules(
    reference_date=dt.date(2026, 11, 29),
    catalogue=load_catalogue(),
    country_aliases=load_country_aliases(),
)
DATES = ("valid_from", "valid_to", "as_of")

SAMPLES = {
    "insz": [INSZ_1990, INSZ_2001, "90.01.01-001.23", " 90010100123 ", "9001010012", "+9001010012",
             "90010100124", "", " .- ", None],
    "country": ["NL", "nl", " NL ", "EL", "el ", "UK", "BE", "XX", "", "  ", None],
    "key_type": ["TAX_NUMBER", "tax_number", " PASSPORT", "SHOE_SIZE", "", None],
    "foreign_key": ["123456782", " 123.456.782 ", "P1234567", "", None],
    "valid_from": ["2024-02-29", "2023-02-29", " 2024-01-01 ", "2024-1-1", "", None],
    "valid_to": ["2025-12-31", "2020-01-01", "31/12/2025", "", None],
    "as_of": ["2026-01-01", " 2026-01-01", "2026-13-01", None],
    "recorded_at": ["2026-03-14T09:30:00Z", " 2026-03-14T09:30+01:00", "2026-03-14", "", None],
    "reason": ["wrong person", " wrong person ", "", None],
}  # fmt: skip


def one_by_one(chunk: pl.DataFrame) -> pl.DataFrame:
    """The normalisation and the readings, spelled out as expressions over every row."""

    def trimmed(name: str) -> pl.Expr:
        text = pl.col(name).str.strip_chars()
        return pl.when(text != "").then(text)

    insz = normalise_insz(pl.col("insz"))
    return chunk.select(
        insz.alias("insz"),
        insz_number(insz).alias("insz_number"),
        normalise_country(pl.col("country"), aliases=RULES.country_aliases).alias("country"),
        trimmed("key_type").str.to_uppercase().alias("key_type"),
        *(trimmed(name).alias(name) for name in (*DATES, "recorded_at")),
        trimmed("reason").alias("change_reason"),
        *(parse_date(trimmed(name)).alias(f"{name}_d") for name in DATES),
        parse_timestamp(trimmed("recorded_at")).alias("recorded_at_ts"),
    )


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(*map(st.sampled_from, SAMPLES.values())), min_size=1, max_size=30))
def test_normalise_agrees_with_the_expressions_row_by_row(rows: list[tuple[str | None, ...]]):
    few = pl.DataFrame(rows, schema=dict.fromkeys(SAMPLES, pl.String), orient="row")
    # Repeated, the rows take few distinct values: codes and dates go by distinct value.
    for chunk in (few, pl.concat([few] * 40)):
        expected = one_by_one(chunk)
        assert normalise(chunk, rules=RULES).select(expected.columns).equals(expected)


def every_failure(model: type[pa.DataFrameModel], frame: pl.DataFrame) -> list[tuple]:
    """(row, reason, column) of every failed check of the whole model, sorted."""
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return sorted(errors.failure_cases.select("index", "check", "column").rows())
    return []


@settings(max_examples=150, deadline=None)
@given(
    operation=st.sampled_from(list(MODELS)),
    rows=st.lists(st.tuples(*map(st.sampled_from, SAMPLES.values())), min_size=1, max_size=20),
    emptied=st.sets(st.sampled_from(list(SAMPLES))),
)
def test_the_checks_of_empty_columns_are_left_out_without_changing_a_failure(
    operation: Operation, rows: list[tuple[str | None, ...]], emptied: set[str]
):
    chunk = pl.DataFrame(rows, schema=dict.fromkeys(SAMPLES, pl.String), orient="row")
    chunk = chunk.with_columns(pl.lit(None, pl.String).alias(name) for name in emptied)
    normalised = normalise(chunk, rules=RULES)
    model = bind(
        operation, reference_date=RULES.reference_date, key_types=RULES.catalogue.key_types
    )

    assert sorted(_failures(model, normalised).rows()) == every_failure(model, normalised)


def test_an_empty_required_column_is_still_missing_on_every_row():
    chunk = pl.DataFrame(
        {"row": [1, 2], "insz": [None, None], "country": ["XX", None]},
        schema={"row": pl.Int64, "insz": pl.String, "country": pl.String},
    )
    staged = validate_chunk(chunk, operation=Operation.LOOKUP_INSZ, rules=RULES)

    assert staged["reason"].to_list() == ["MISSING_VALUE", "MISSING_VALUE"]


def test_every_model_names_the_reasons_of_its_rows_whatever_was_bound_before():
    """Pandera hands a check's name to the first model that builds it, and names it after its
    function in the others: a file of any other model with a bad row was refused whole (an
    update after a create in one pass, a delete after a report, any file after midnight)."""
    chunk = pl.DataFrame(
        {"row": [1], "insz": [INSZ_1990], "country": ["XX"], "key_type": ["TAX_NUMBER"],
         "foreign_key": ["123456782"], "valid_from": ["2020-01-01"], "reason": ["why"]}
    )  # fmt: skip
    for day in (dt.date(2031, 1, 1), dt.date(2031, 1, 2)):
        rules = dataclasses.replace(RULES, reference_date=day)
        for operation in MODELS:
            staged = validate_chunk(chunk, operation=operation, rules=rules)
            assert staged["reason"].to_list() == ["INVALID_COUNTRY"], (day, operation)


def test_absent_and_empty_columns_are_null_in_the_staged_rows():
    chunk = pl.DataFrame(
        {"row": [1, 2, 3], "insz": [INSZ_1990, "90010100124", None], "country": [None] * 3},
        schema={"row": pl.Int64, "insz": pl.String, "country": pl.String},
    )
    staged = validate_chunk(chunk, operation=Operation.LOOKUP_INSZ, rules=RULES)

    assert staged.schema == pl.Schema(STAGED_SCHEMA)
    assert staged.select("reason", "insz_int").rows() == [
        (None, int(INSZ_1990)),
        ("INVALID_INSZ", None),
        ("MISSING_VALUE", None),
    ]
    assert staged["message"].to_list() == [
        None,
        "not a valid national register or BIS number",
        "`insz` is empty",
    ]
    others = staged.drop("row", "reason", "message", "insz", "insz_int")
    assert others.null_count().row(0) == (3,) * others.width


def test_a_clean_chunk_has_no_reasons():
    chunk = pl.DataFrame(
        {"row": [1, 2], "country": ["nl", "EL"], "foreign_key": ["123.456.782", "AB12345"]}
    )
    staged = validate_chunk(chunk, operation=Operation.LOOKUP_KEY, rules=RULES)

    assert staged.select("reason", "message", "country", "foreign_key").rows() == [
        (None, None, "NL", "123456782"),
        (None, None, "GR", "AB12345"),
    ]


def test_a_date_or_timestamp_of_year_zero_does_not_parse():
    """Polars reads year 0; DuckDB would write it back as `0001-01-01 (BC)`."""
    frame = pl.DataFrame(
        {
            "date": ["0000-01-01", "0001-01-01", "9999-12-31"],
            "timestamp": ["0000-06-01T00:00Z", "0001-06-01T00:00Z", "9999-06-01T00:00Z"],
        }
    )
    parsed = frame.select(
        parse_date(pl.col("date")).dt.year(), parse_timestamp(pl.col("timestamp")).dt.year()
    )
    assert parsed.rows() == [(None, None), (1, 1), (9999, 9999)]
