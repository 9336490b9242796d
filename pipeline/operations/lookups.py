"""``lookup-insz`` and ``lookup-key``: each chunk of the request answered by one query.

A lookup changes nothing, so it needs no staging: every validated chunk is joined to the store
as it comes, straight from its polars frame, and its answers go to the result and the audit
before the next chunk is read. The query answers all rows of the chunk, the rejected ones too
(they join nothing and echo their normalised values). The result puts them in request order,
then link order (the order the links were created in); the audit takes them as the join gave
them.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pyarrow as pa

from pipeline.contract import RESULT_COLUMNS, Operation, Reason, Status
from pipeline.operations.sql import insz_text, known_at, valid_on

REPLACED_MESSAGE = "this INSZ was replaced: the answer is the links of the new INSZ"
LOOKUPS = frozenset({Operation.LOOKUP_INSZ, Operation.LOOKUP_KEY})

# What was asked and the answer does not show, for the consultation audit (not in the result):
# the filters, and the INSZ asked when it was replaced (the answer shows the new one). A key
# asked is the key answered: a found link has that country and key, a row not found echoes it.
ASKED_COLUMNS = ("replaced_insz", "asked_country", "asked_key_type", "as_of_d", "recorded_at_ts")

_CHUNK = "lookup_chunk"
_ARROW_BATCH = 1 << 22


def lookup_answers(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    *,
    operation: Operation,
    today: dt.date,
) -> pa.Table:
    """The answer rows of one validated chunk (``STAGED_SCHEMA``), as the join gave them.

    ``lookup-insz``: all links of each INSZ, filtered by country, key type, validity date and
    record time. An INSZ that the administrator replaced (a BIS number that became a national
    register number) is answered with the links of its new number and the reason
    ``INSZ_REPLACED``. ``lookup-key``: the INSZ linked to each foreign key of a country,
    optionally of one key type. Rejected rows echo their normalised values.

    The table has the result columns, then ``ASKED_COLUMNS`` and ``link_id`` for the audit.
    """
    connection.register(_CHUNK, rows)
    try:
        query = _query(connection, rows, operation=operation)
        return connection.sql(query, params={"today": today}).to_arrow_table(_ARROW_BATCH)
    finally:
        connection.unregister(_CHUNK)


def in_request_order(answers: pa.Table) -> pl.DataFrame:
    """The result rows, sorted by request row, then link (the order they were created in).

    Polars sorts and gathers them several times faster than DuckDB's ``ORDER BY`` over all
    columns; one integer key (row and link id both fit in 32 bits) sorts faster than two.
    """
    rows = pl.from_arrow(answers.select([*RESULT_COLUMNS, "link_id"]), rechunk=True)
    assert isinstance(rows, pl.DataFrame)
    order = pl.col("row") * (1 << 32) + pl.col("link_id").fill_null(0)
    return rows.sort(order).select(RESULT_COLUMNS)


def _query(
    connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *, operation: Operation
) -> str:
    """The chunk's query; the filters no row of the chunk uses are left out, as they cost time.

    A rejected row joins nothing: its ``reason`` is the join's first condition.
    """
    if operation is Operation.LOOKUP_INSZ:
        match = "l.insz = r.target_insz"
        if rows["country"].null_count() < rows.height:
            match += " AND (r.country IS NULL OR l.country = r.country)"
    else:
        match = "l.country = r.country AND l.foreign_key = r.foreign_key"
    if rows["key_type"].null_count() < rows.height:
        match += " AND (r.key_type IS NULL OR l.key_type = r.key_type)"
    if rows["recorded_at_ts"].null_count() < rows.height:
        match += f" AND {known_at('l', 'r.recorded_at_ts')}"
    else:
        match += " AND l.recorded_to IS NULL"
    day = "coalesce(r.as_of_d, $today)" if rows["as_of_d"].null_count() < rows.height else "$today"
    match += f" AND {valid_on('l', day)}"
    if rows["reason"].null_count() < rows.height:
        match = f"r.reason IS NULL AND {match}"
    replaced = operation is Operation.LOOKUP_INSZ and _has_replacements(connection)
    if operation is Operation.LOOKUP_INSZ:  # a link found has the INSZ asked: no formatting
        answered_insz = f"CASE WHEN r.replaced THEN {insz_text('r.target_insz')} ELSE r.insz END"
    else:
        answered_insz = (
            f"CASE WHEN r.reason IS NOT NULL THEN r.insz"
            f" WHEN l.insz IS NOT NULL THEN {insz_text('l.insz')} END"
        )
    return f"""
        WITH asked AS ({_asked(replaced=replaced)})
        SELECT r.row, r.ref,
               CASE WHEN r.reason IS NOT NULL THEN '{Status.REJECTED}'
                    WHEN l.insz IS NULL THEN '{Status.NOT_FOUND}'
                    ELSE '{Status.FOUND}' END AS status,
               CASE WHEN r.replaced THEN '{Reason.INSZ_REPLACED}' ELSE r.reason END AS reason,
               CASE WHEN r.replaced THEN '{REPLACED_MESSAGE}' ELSE r.message END AS message,
               {answered_insz} AS insz,
               coalesce(l.country, r.country) AS country,
               coalesce(l.key_type, r.key_type) AS key_type,
               coalesce(l.foreign_key, r.foreign_key) AS foreign_key,
               CASE WHEN r.reason IS NULL THEN CAST(l.valid_from AS VARCHAR)
                    ELSE r.valid_from END AS valid_from,
               CASE WHEN r.reason IS NULL THEN CAST(l.valid_to AS VARCHAR)
                    ELSE r.valid_to END AS valid_to,
               CASE WHEN r.replaced THEN r.insz END AS replaced_insz,
               r.country AS asked_country, r.key_type AS asked_key_type, r.as_of_d,
               r.recorded_at_ts, l.link_id
        FROM asked r LEFT JOIN links l ON {match}
    """


def _asked(*, replaced: bool) -> str:
    if not replaced:
        return f"SELECT *, insz_int AS target_insz, false AS replaced FROM {_CHUNK}"
    return f"""
        SELECT r.*, coalesce(x.new_insz, r.insz_int) AS target_insz,
               x.new_insz IS NOT NULL AS replaced
        FROM {_CHUNK} r LEFT JOIN insz_replacements x
          ON r.reason IS NULL AND x.old_insz = r.insz_int
         AND (r.recorded_at_ts IS NULL OR x.replaced_at <= r.recorded_at_ts)
    """


def _has_replacements(connection: duckdb.DuckDBPyConnection) -> bool:
    return connection.execute("SELECT EXISTS (FROM insz_replacements)").fetchall() == [(True,)]
