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
    replaced = f"""CASE WHEN replaced THEN '{Reason.INSZ_REPLACED}' END AS reason,
                   CASE WHEN replaced THEN '{REPLACED_MESSAGE}' END AS message"""
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE answer AS
        WITH asked AS ({asked}),
        found AS (
            SELECT r.row, r.ref, r.replaced, l.insz, l.country, l.key_type, l.foreign_key,
                   l.valid_from, l.valid_to
            FROM asked r JOIN links l
              ON {match} AND {known_at("l", "r.recorded_at_ts")} AND {valid_on("l", day)}
            WHERE r.reason IS NULL
        )
        SELECT row, ref, '{Status.FOUND}' AS status, {replaced},
               {insz_text("insz")} AS insz, country, key_type, foreign_key,
               CAST(valid_from AS VARCHAR) AS valid_from, CAST(valid_to AS VARCHAR) AS valid_to
        FROM found
        UNION ALL
        SELECT r.row, r.ref, '{Status.NOT_FOUND}', {replaced},
               CASE WHEN replaced THEN {insz_text("r.target_insz")} ELSE r.insz END,
               r.country, r.key_type, r.foreign_key, NULL, NULL
        FROM asked r ANTI JOIN found f ON f.row = r.row
        WHERE r.reason IS NULL
        UNION ALL
        {rejected_rows()}
        """,
        {"today": today},
    )
