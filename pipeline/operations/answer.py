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


def drop_work_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """Drops the temporary tables and views of the last staged request: the request itself,
    its answer and the tables between. They would hold memory until the next file (264 MB
    after a 2M-row load; then the temporary folder), and a later file could not always take
    their names: a ``create``'s answer is a view, the others' a table, and DuckDB replaces
    neither with the other."""
    made = connection.execute(
        """
        SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND NOT internal
        UNION ALL
        SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary
        """
    ).fetchall()
    for kind, name in made:
        connection.execute(f'DROP {kind} IF EXISTS temp.main."{name}"')


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
