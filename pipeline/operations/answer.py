"""Dispatches a staged request to its operation, counts the answers, audits consultations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from pipeline.contract import RESULT_COLUMNS, Operation
from pipeline.operations.changes import (
    answer_delete,
    answer_report,
    answer_update,
    apply_delete,
    apply_report,
    apply_update,
)
from pipeline.operations.create import answer_create, apply_create
from pipeline.operations.formats import FORMAT_COLUMNS, answer_formats
from pipeline.operations.lookups import answer_lookup_insz, answer_lookup_key
from pipeline.store import sql_path
from pipeline.validation import Rules

LOOKUPS = frozenset({Operation.LOOKUP_INSZ, Operation.LOOKUP_KEY})

_ANSWERS = {
    Operation.CREATE: answer_create,
    Operation.UPDATE: answer_update,
    Operation.DELETE: answer_delete,
    Operation.REPORT: answer_report,
}
_APPLY = {
    Operation.CREATE: apply_create,
    Operation.UPDATE: apply_update,
    Operation.DELETE: apply_delete,
    Operation.REPORT: apply_report,
}


def result_columns(operation: Operation) -> tuple[str, ...]:
    """The columns of the result file: the contract's, or the catalogue's for ``formats``."""
    return FORMAT_COLUMNS if operation is Operation.FORMATS else RESULT_COLUMNS


def stage_rows(
    connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *, create: bool = False
) -> None:
    """Appends validated rows to the temporary ``request`` table (``create``: a new, empty one)."""
    connection.register("staged_rows", rows)
    try:
        if create:
            connection.execute(
                "CREATE OR REPLACE TEMP TABLE request AS SELECT * FROM staged_rows LIMIT 0"
            )
        else:
            connection.execute("INSERT INTO request SELECT * FROM staged_rows")
    finally:
        connection.unregister("staged_rows")


def answer_request(
    connection: duckdb.DuckDBPyConnection,
    *,
    operation: Operation,
    today: dt.date,
    rules: Rules,
) -> dict[str, dict[str, int]]:
    """Builds ``answer`` from the staged ``request`` table; returns the counts per row."""
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE exclusive_key_types AS"
        " SELECT unnest(CAST($types AS VARCHAR[])) AS key_type",
        {"types": sorted(rules.catalogue.exclusive_key_types)},
    )
    if operation is Operation.LOOKUP_INSZ:
        answer_lookup_insz(connection, today=today)
    elif operation is Operation.LOOKUP_KEY:
        answer_lookup_key(connection, today=today)
    elif operation is Operation.FORMATS:
        answer_formats(connection, catalogue=rules.catalogue, aliases=rules.country_aliases)
    else:
        _ANSWERS[operation](connection)
    return _counts(connection)


def apply_changes(
    connection: duckdb.DuckDBPyConnection,
    *,
    operation: Operation,
    batch_id: str,
    institution: str,
    now: dt.datetime,
) -> int:
    """Writes the changes the answer decided; returns how many links changed."""
    return _APPLY[operation](connection, batch_id=batch_id, institution=institution, now=now)


def audit_consultations(
    connection: duckdb.DuckDBPyConnection,
    *,
    path: Path,
    batch_id: str,
    institution: str,
    operation: Operation,
    at: dt.datetime,
) -> None:
    """Who asked for which INSZ or key, when, in which batch, and which links were answered."""
    if operation not in LOOKUPS:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    # One audit row per answer row (no aggregation: it costs twice the write at 10M rows);
    # `linkreg audit` counts the links answered per request row when it reads them.
    connection.execute(
        f"""
        COPY (
            SELECT $batch_id AS batch_id, $institution AS institution, $operation AS operation,
                   $at AS at, row, asked_insz AS insz, asked_country AS country,
                   asked_key_type AS key_type, asked_key AS foreign_key, as_of_d AS as_of,
                   recorded_at_ts AS recorded_at, status = 'FOUND' AS found,
                   CASE WHEN status = 'FOUND' THEN insz END AS found_insz
            FROM answer WHERE status <> 'REJECTED'
        ) TO '{sql_path(path)}' (FORMAT parquet)
        """,
        {"batch_id": batch_id, "institution": institution, "operation": operation.value, "at": at},
    )


def _counts(connection: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Every request row counted once: by its status, and by its reason when it has one."""
    rows = connection.execute(
        """
        WITH per_row AS (
            SELECT row, min(status) AS status, min(reason) AS reason
            FROM answer WHERE row IS NOT NULL GROUP BY row
        )
        SELECT 'status', status, count(*) FROM per_row GROUP BY status
        UNION ALL
        SELECT 'reason', reason, count(*) FROM per_row WHERE reason IS NOT NULL GROUP BY reason
        """
    ).fetchall()
    counts: dict[str, dict[str, int]] = {"status": {}, "reason": {}}
    for kind, value, count in sorted(rows):
        counts[kind][value] = int(count)
    return counts
