"""Dispatches a staged request (a mutation or ``formats``) to its operation, counts the answers."""

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
from pipeline.results import Ordering
from pipeline.store import registered, sql_path
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


# A large request is staged in a database file of its own (``start_request``), seen through a
# temporary view named ``request``: DuckDB compresses it there. A temporary table is held
# uncompressed, 130 bytes a row for a load, and spills to the temporary folder past the
# memory limit: a 20M-row load's 2.6 GB were written out while staged and read back by the
# answer, the result and the insert (32.5-36.1 s; in a file of 680 MB, 28.3-29.3 s). For
# fewer rows, the file costs more than it saves (``chunks.STAGED_IN_MEMORY_ROWS``).
STAGED_DATABASE = "staged"
# Columns of nearly all different values, which DuckDB's compression would only slow down (a
# 20M-row load staged in 10.6 s with them uncompressed, 14.8 s without).
_ALL_DIFFERENT = frozenset({"insz", "foreign_key"})
_SQL_TYPES = {pl.Int64: "BIGINT", pl.String: "VARCHAR", pl.Date: "DATE", pl.Datetime: "TIMESTAMPTZ"}


def start_request(
    connection: duckdb.DuckDBPyConnection, schema: pl.Schema, *, file: Path | None = None
) -> str:
    """A new, empty ``request`` of ``schema`` (the staged rows' columns): a temporary table,
    or, with ``file``, a table in that new database file (see ``STAGED_DATABASE``). Returns
    the table that ``stage_rows`` appends to."""
    columns = ", ".join(
        f'"{name}" {_SQL_TYPES[dtype.base_type()]}'
        + (" USING COMPRESSION uncompressed" if file is not None and name in _ALL_DIFFERENT else "")
        for name, dtype in schema.items()
    )
    if file is None:
        connection.execute(f"CREATE OR REPLACE TEMP TABLE request ({columns})")
        return "request"
    connection.execute(f"ATTACH '{sql_path(file)}' AS {STAGED_DATABASE}")
    connection.execute(f"CREATE TABLE {STAGED_DATABASE}.request ({columns})")
    connection.execute(
        f"CREATE OR REPLACE TEMP VIEW request AS SELECT * FROM {STAGED_DATABASE}.request"
    )
    return f"{STAGED_DATABASE}.request"


def stage_rows(connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *, table: str) -> None:
    """Appends validated rows to the staged request, ``table`` (``start_request``)."""
    with registered(connection, "staged_rows", rows):
        connection.execute(f"INSERT INTO {table} SELECT * FROM staged_rows")


def answer_request(
    connection: duckdb.DuckDBPyConnection,
    *,
    operation: Operation,
    rules: Rules,
) -> Ordering:
    """Builds ``answer`` from the staged ``request`` table; says how it comes, and so how
    ``write_result`` puts it in request order: a ``create``'s as staged or corrected, any other
    unsorted."""
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
    return Ordering.UNSORTED


def drop_work_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """Drops the temporary tables and views of the last staged request (the request itself,
    its answer and the tables between) and lets its database file go, if it had one. They
    would hold memory until the next file (264 MB after a 2M-row load; then the temporary
    folder), and a later file could not always take their names: a ``create``'s answer is a
    view, the others' a table, and DuckDB replaces neither with the other."""
    made = connection.execute(
        """
        SELECT 'VIEW', view_name FROM duckdb_views() WHERE temporary AND NOT internal
        UNION ALL
        SELECT 'TABLE', table_name FROM duckdb_tables() WHERE temporary
        """
    ).fetchall()
    for kind, name in made:
        connection.execute(f'DROP {kind} IF EXISTS temp.main."{name}"')
    connection.execute(f"DETACH DATABASE IF EXISTS {STAGED_DATABASE}")


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
