"""``formats``: the allowed key formats of the countries asked, or of all, from the catalogue."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import polars as pl

from pipeline.contract import Reason, Status
from pipeline.store import query_frame, registered
from schemas.countries import is_valid_country, normalise_country
from schemas.formats import Catalogue

FORMAT_COLUMNS: tuple[str, ...] = (
    "row",
    "status",
    "reason",
    "message",
    "country",
    "key_type",
    "rule_id",
    "description",
    "pattern",
    "check",
    "normalisation",
    "example",
    "catalogue_version",
)


def formats_answer(
    request: pl.DataFrame, *, catalogue: Catalogue, aliases: Mapping[str, str]
) -> pl.DataFrame:
    """One row per rule that applies to each request row; all rules for a file with no rows.

    A country without rules of its own is answered with the rules for any country (`*`), which
    include the default rule that every other key of that country follows.
    """
    rules = catalogue.rules_frame().with_columns(
        pl.lit(catalogue.version).alias("catalogue_version")
    )
    if request.height == 0:
        return rules.with_columns(
            pl.lit(None, pl.Int64).alias("row"),
            pl.lit(Status.FOUND.value).alias("status"),
            pl.lit(None, pl.String).alias("reason"),
            pl.lit(None, pl.String).alias("message"),
        ).select(FORMAT_COLUMNS)
    asked = request.select(
        pl.col("row").cast(pl.Int64),
        normalise_country(pl.col("country").str.strip_chars(), aliases=aliases).alias("country"),
        pl.col("key_type").str.strip_chars().str.to_uppercase().replace("", None).alias("key_type"),
    )
    valid = asked.filter(pl.col("country").is_null() | is_valid_country(pl.col("country")))
    rejected = asked.join(valid, on="row", how="anti").select(
        "row",
        pl.lit(Status.REJECTED.value).alias("status"),
        pl.lit(Reason.INVALID_COUNTRY.value).alias("reason"),
        pl.lit("not an ISO 3166-1 alpha-2 code of a foreign country").alias("message"),
        "country",
        "key_type",
    )
    matches = (
        valid.join(
            rules.rename({"country": "rule_country", "key_type": "rule_key_type"}), how="cross"
        )
        .filter(
            (
                pl.col("country").is_null()
                | (pl.col("rule_country") == pl.col("country"))
                | (pl.col("rule_country") == "*")
            )
            & (
                pl.col("key_type").is_null()
                | (pl.col("rule_key_type") == pl.col("key_type"))
                | (pl.col("rule_key_type") == "*")
            )
        )
        .select(
            "row",
            pl.lit(Status.FOUND.value).alias("status"),
            pl.lit(None, pl.String).alias("reason"),
            pl.lit(None, pl.String).alias("message"),
            pl.col("rule_country").alias("country"),
            pl.col("rule_key_type").alias("key_type"),
            *(c for c in FORMAT_COLUMNS[6:]),
        )
    )
    not_found = valid.join(matches.select("row").unique(), on="row", how="anti").select(
        "row",
        pl.lit(Status.NOT_FOUND.value).alias("status"),
        pl.lit(None, pl.String).alias("reason"),
        pl.lit("no rule for this key type").alias("message"),
        "country",
        "key_type",
    )
    return pl.concat([matches, not_found, rejected], how="diagonal_relaxed").select(FORMAT_COLUMNS)


def answer_formats(
    connection: duckdb.DuckDBPyConnection, *, catalogue: Catalogue, aliases: Mapping[str, str]
) -> None:
    """Builds ``answer`` from the raw ``request`` table of a formats file."""
    request = query_frame(connection, "SELECT * FROM request")
    if "row" not in request.columns:
        request = pl.DataFrame(
            schema={"row": pl.Int64, "country": pl.String, "key_type": pl.String}
        )
    frame = formats_answer(request, catalogue=catalogue, aliases=aliases)
    with registered(connection, "formats_frame", frame):
        connection.execute("CREATE OR REPLACE TEMP TABLE answer AS SELECT * FROM formats_frame")
