"""``lookup-insz`` and ``lookup-key``: one join of the whole request table against the links."""

from __future__ import annotations

import datetime as dt

import duckdb

from pipeline.contract import Reason, Status
from pipeline.operations.sql import insz_text, known_at, rejected_rows, valid_on

REPLACED_MESSAGE = "this INSZ was replaced: the answer is the links of the new INSZ"


def answer_lookup_insz(connection: duckdb.DuckDBPyConnection, *, today: dt.date) -> None:
    """All links of each INSZ, filtered by country, key type, validity date and record time.

    An INSZ that the administrator replaced (a BIS number that became a national register
    number) is answered with the links of its new number, and the reason ``INSZ_REPLACED``.
    """
    _answer(
        connection,
        today=today,
        asked="""
            SELECT r.*, coalesce(x.new_insz, r.insz_int) AS target_insz,
                   x.new_insz IS NOT NULL AS replaced
            FROM request r LEFT JOIN insz_replacements x
              ON x.old_insz = r.insz_int
             AND (r.recorded_at_ts IS NULL OR x.replaced_at <= r.recorded_at_ts)
        """,
        match="l.insz = r.target_insz"
        " AND (r.country IS NULL OR l.country = r.country)"
        " AND (r.key_type IS NULL OR l.key_type = r.key_type)",
    )


def answer_lookup_key(connection: duckdb.DuckDBPyConnection, *, today: dt.date) -> None:
    """The INSZ linked to each foreign key of a country, optionally of one key type."""
    _answer(
        connection,
        today=today,
        asked="SELECT *, insz_int AS target_insz, false AS replaced FROM request",
        match="l.country = r.country AND l.foreign_key = r.foreign_key"
        " AND (r.key_type IS NULL OR l.key_type = r.key_type)",
    )


def _answer(
    connection: duckdb.DuckDBPyConnection, *, today: dt.date, asked: str, match: str
) -> None:
    day = "coalesce(r.as_of_d, $today)"
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE answer AS
        WITH asked AS ({asked})
        SELECT r.row, r.ref,
               CASE WHEN l.insz IS NULL THEN '{Status.NOT_FOUND}' ELSE '{Status.FOUND}' END
                   AS status,
               CASE WHEN r.replaced THEN '{Reason.INSZ_REPLACED}' END AS reason,
               CASE WHEN r.replaced THEN '{REPLACED_MESSAGE}' END AS message,
               CASE WHEN l.insz IS NOT NULL THEN {insz_text("l.insz")}
                    WHEN r.replaced THEN {insz_text("r.target_insz")}
                    ELSE r.insz END AS insz,
               coalesce(l.country, r.country) AS country,
               coalesce(l.key_type, r.key_type) AS key_type,
               coalesce(l.foreign_key, r.foreign_key) AS foreign_key,
               CAST(l.valid_from AS VARCHAR) AS valid_from,
               CAST(l.valid_to AS VARCHAR) AS valid_to,
               -- what was asked, for the consultation audit (not in the result file)
               r.insz AS asked_insz, r.country AS asked_country, r.key_type AS asked_key_type,
               r.foreign_key AS asked_key, r.as_of_d, r.recorded_at_ts
        FROM asked r LEFT JOIN links l
          ON {match} AND {known_at("l", "r.recorded_at_ts")} AND {valid_on("l", day)}
        WHERE r.reason IS NULL
        UNION ALL BY NAME
        {rejected_rows()}
        """,
        {"today": today},
    )
