"""Dispatches a staged request (a mutation or ``formats``) to its operation, counts the answers."""

from __future__ import annotations

import datetime as dt

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
from pipeline.validation import Rules

_ANSWERS = {
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
    rules: Rules,
) -> bool:
    """Builds ``answer`` from the staged ``request`` table; says whether it reads ``request``
    alone, one row per request row, and so comes in request order (a ``create`` in which no row
    was contested): ``write_result`` then copies it as it comes."""
    _drop_answer(connection)
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE exclusive_key_types AS"
        " SELECT unnest(CAST($types AS VARCHAR[])) AS key_type",
        {"types": sorted(rules.catalogue.exclusive_key_types)},
    )
    if operation is Operation.CREATE:
        return answer_create(connection)
    if operation is Operation.FORMATS:
        answer_formats(connection, catalogue=rules.catalogue, aliases=rules.country_aliases)
    else:
        _ANSWERS[operation](connection)
    return False


def _drop_answer(connection: duckdb.DuckDBPyConnection) -> None:
    """The ``answer`` of the file before goes: a view after a ``create``, a table after the
    others, and DuckDB replaces neither with the other (the second file of a pass or of a
    watch that mixed them was refused whole)."""
    [(view,)] = connection.execute(
        "SELECT EXISTS (FROM duckdb_views() WHERE temporary AND view_name = 'answer')"
    ).fetchall()
    connection.execute(f"DROP {'VIEW' if view else 'TABLE'} IF EXISTS answer")


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
