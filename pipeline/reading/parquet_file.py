"""Parquet requests: the schema checked from the footer, the rows streamed as text batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.contract import FileReason, FileRejected
from pipeline.reading.header import normalise_names

DATE_COLUMNS = frozenset({"valid_from", "valid_to", "as_of"})
BATCH_ROWS = 65_536


def read_schema(path: Path) -> pa.Schema:
    """The schema from the file's footer; the rows are not read."""
    with _open(path) as parquet:
        return parquet.schema_arrow


def check_types(schema: pa.Schema, *, columns: tuple[str, ...]) -> None:
    """Refuses a column that is not text (or, for a date column, not a date or timestamp)."""
    for name, field in zip(columns, schema, strict=True):
        if _is_text(field.type) or (name in DATE_COLUMNS and _is_date(field.type)):
            continue
        wanted = "a string or date column" if name in DATE_COLUMNS else "a string column"
        raise FileRejected(
            FileReason.UNREADABLE_FILE,
            f"column `{name}` is {field.type} in the Parquet file: write it as {wanted}"
            " (a number would lose leading zeros, as in the INSZ 01020300269)",
        )


def iter_batches(path: Path, *, columns: tuple[str, ...]) -> Iterator[pa.RecordBatch]:
    """The rows as text batches named ``columns``; date columns become ``YYYY-MM-DD``."""
    rows = 0
    with _open(path) as parquet:
        try:
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
                arrays = [_as_text(array) for array in batch.columns]
                rows += batch.num_rows
                yield pa.RecordBatch.from_arrays(arrays, names=list(columns))
        except (pa.ArrowException, OSError) as error:
            raise FileRejected(
                FileReason.UNREADABLE_FILE,
                f"the Parquet data after row {rows} is corrupt: write the file again",
            ) from error


def _open(path: Path) -> pq.ParquetFile:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise FileRejected(
            FileReason.UNREADABLE_FILE,
            "the file is not a readable Parquet file (truncated or corrupt?): write it again",
        ) from error
    if not normalise_names(parquet.schema_arrow.names):
        parquet.close()
        raise FileRejected(FileReason.EMPTY_FILE, "the Parquet file has no columns")
    return parquet


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _is_text(kind.value_type)
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_null(kind)
    )


def _is_date(kind: pa.DataType) -> bool:
    return pa.types.is_date(kind) or pa.types.is_timestamp(kind)


def _as_text(array: pa.Array) -> pa.Array:
    """Text as polars takes it: plain, large and view strings as they are (a cast would copy
    them), dictionaries, all-null columns and dates cast to text."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return array
    if pa.types.is_timestamp(kind):  # the day it is where the timestamp was written
        import pyarrow.compute as pc  # noqa: PLC0415 (40 ms to import, for a rare column)

        local = pc.local_timestamp(array) if kind.tz else array
        return local.cast(pa.date32()).cast(pa.string())
    return array.cast(pa.string())
