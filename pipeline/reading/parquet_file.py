"""Parquet requests: the schema checked from the footer, the rows read as text in slices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.contract import FileReason, FileRejected
from pipeline.reading.header import normalise_names

DATE_COLUMNS = frozenset({"valid_from", "valid_to", "as_of"})


def read_footer(path: Path) -> tuple[pa.Schema, int, int]:
    """The schema from the file's footer, its number of rows, and the bytes of a row, unpacked
    (uncompressed, all columns), on average over the file; the rows are not read."""
    with _open(path) as parquet:
        groups = _groups(parquet.metadata)
        rows = sum(group_rows for group_rows, _ in groups)
        unpacked = sum(group_bytes for _, group_bytes in groups)
        return parquet.schema_arrow, rows, max(1, unpacked // max(1, rows))


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


def iter_frames(
    path: Path, *, columns: tuple[str, ...], rows: int, most_bytes: int | None = None
) -> Iterator[pl.DataFrame]:
    """The rows as text frames of ``rows`` rows (the last one fewer) named ``columns``, or
    fewer where ``rows`` would unpack to more than ``most_bytes`` (``slices``); date columns
    become ``YYYY-MM-DD``.

    Polars reads each slice straight into its own strings, on all cores, and decodes only the
    row groups (and pages) the slice covers: at 2M rows, a third of the time of pyarrow's
    batches turned into polars frames, at half the memory.
    """
    with _open(path) as parquet:
        groups = _groups(parquet.metadata)
    scan = pl.scan_parquet(path, glob=False, hive_partitioning=False)
    try:
        kinds = scan.collect_schema().dtypes()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise _unreadable() from error
    texts = [
        _as_text(pl.nth(index), kind).alias(name)
        for index, (name, kind) in enumerate(zip(columns, kinds, strict=True))
    ]
    for first, length in slices(groups, rows=rows, most_bytes=most_bytes):
        try:
            frame = scan.slice(first, length).select(texts).collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            if "invalid utf-8" in str(error).lower():  # polars checks text as it decodes it
                raise FileRejected(
                    FileReason.ENCODING_ERROR,
                    f"a text column after row {first} is not UTF-8: write the text as UTF-8",
                ) from error
            raise FileRejected(
                FileReason.UNREADABLE_FILE,
                f"the Parquet data after row {first} is corrupt: write the file again",
            ) from error
        yield frame


def slices(
    groups: list[tuple[int, int]], *, rows: int, most_bytes: int | None
) -> Iterator[tuple[int, int]]:
    """(first row, rows) of each frame, over row groups of (rows, unpacked bytes): at most
    ``rows`` rows, and at most about ``most_bytes`` bytes (a group's rows take its average
    width), one row at least. A loop over the groups, not their rows."""
    first = taken = 0
    size = 0.0
    for group_rows, group_bytes in groups:
        width = group_bytes / group_rows if group_rows else 0.0
        left = group_rows
        while left:
            room = rows - taken
            if most_bytes is not None and width:
                room = min(room, max(1, int((most_bytes - size) // width)))
            step = min(left, room)
            taken, size, left = taken + step, size + step * width, left - step
            if taken == rows or (most_bytes is not None and size >= most_bytes):
                yield first, taken
                first, taken, size = first + taken, 0, 0.0
    if taken:
        yield first, taken


def _groups(metadata: pq.FileMetaData) -> list[tuple[int, int]]:
    """(rows, unpacked bytes) of each row group."""
    return [
        (metadata.row_group(i).num_rows, metadata.row_group(i).total_byte_size)
        for i in range(metadata.num_row_groups)
    ]


def _open(path: Path) -> pq.ParquetFile:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise _unreadable() from error
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


def _unreadable() -> FileRejected:
    return FileRejected(
        FileReason.UNREADABLE_FILE,
        "the file is not a readable Parquet file (truncated or corrupt?): write it again",
    )


def _as_text(column: pl.Expr, kind: pl.DataType) -> pl.Expr:
    """Text as it is; a date as ``YYYY-MM-DD``; a timestamp as the day it is where it was
    written (its time zone, if it has one); dictionaries and all-null columns as text."""
    if kind == pl.String:
        return column
    if isinstance(kind, pl.Datetime):
        column = column.dt.date()
    return column.cast(pl.String)
