"""Result files: the ``answer`` table written in the request's own format, whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pipeline.contract import RESULT_COLUMNS
from pipeline.files import OUTPUT_MODE, fsync_file
from pipeline.store import sql_path


def write_result(
    connection: duckdb.DuckDBPyConnection,
    *,
    path: Path,
    file_format: str,
    delimiter: str | None,
    columns: tuple[str, ...] = RESULT_COLUMNS,
) -> None:
    """Writes ``answer`` in request order (CSV in, CSV out with its delimiter; Parquet in, out)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    order = ", ".join(f'"{name}" NULLS FIRST' for name in columns if name in _ORDER)
    selected = ", ".join(f'"{name}"' for name in columns)  # `check` is a reserved word
    query = f"SELECT {selected} FROM answer ORDER BY {order}"
    if file_format == "parquet":
        options = "FORMAT parquet, COMPRESSION zstd"
    else:
        separator = delimiter or ","
        options = f"FORMAT csv, HEADER true, DELIMITER '{separator}', QUOTE '\"', ESCAPE '\"'"
        if file_format == "csv.gz":
            options += ", COMPRESSION gzip"
    connection.execute(f"COPY ({query}) TO '{sql_path(temporary)}' ({options})")
    fsync_file(temporary)
    temporary.chmod(OUTPUT_MODE)
    os.replace(temporary, path)


_ORDER = frozenset({"row", "country", "key_type", "foreign_key", "rule_id"})
