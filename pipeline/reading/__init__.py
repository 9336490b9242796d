"""Reads a request file (CSV, gzipped CSV or Parquet) as text chunks, or refuses it with a reason.

What a sender sees of the reading (every refusal is a ``FileRejected``, nothing else escapes for a
bad file):

- Every value is text, exactly as written: no trimming (validation trims; ``ref`` is echoed as
  sent), no type or NA inference (``NA``, ``null`` stay text). An empty field, quoted (``""``) or
  not, is null.
- CSV: UTF-8 with or without a BOM; the delimiter is the one of ``;`` and ``,`` the header line
  holds outside quotes (``,`` for a single column; both refuse the file); RFC 4180 quoting
  (delimiters, doubled quotes and line ends inside quotes; a value holding a quote must be quoted
  as a whole, so the file holds an even number of quotes, else UNREADABLE_FILE: pyarrow would let
  an unclosed quote swallow the rest of the file into one value); LF, CRLF, CR and mixtures.
  Blank lines before the header and between rows are skipped and are not rows: ``row`` counts
  data rows, and a repeated header line is an ordinary data row. A row with another number of
  fields than the header: UNREADABLE_FILE naming the data row. Bytes that are not UTF-8:
  ENCODING_ERROR naming the line and byte offset (of the unzipped text for ``.csv.gz``). A NUL
  byte in a data line: UNREADABLE_FILE naming the line (never kept in a value: it would travel
  into results and the store); in the header, or a UTF-16 BOM: ENCODING_ERROR, as the file is
  then UTF-16 text. The header line may not exceed 64 KiB, nor any other line 1 MiB
  (UNREADABLE_FILE), so that a file without line ends costs no memory.
- Parquet: string columns (also dictionary-encoded or all-null); ``valid_from``, ``valid_to`` and
  ``as_of`` may also be date or timestamp columns, read as ``YYYY-MM-DD`` (a timestamp with a
  time zone gives its day in that zone). ``recorded_at`` must be ISO 8601 text.
- A file with a header and no rows yields no chunk at all.

CSV goes through pyarrow's streaming reader (1 MiB blocks, every column typed string, so nothing
is inferred) behind a stream that checks the text first: each block becomes a polars frame, and
frames are cut to ``chunk_rows``. Parquet is read by polars, ``chunk_rows`` at a time. Rows never
pass through Python, and memory depends on ``chunk_rows``, not on the size of the file.
``RequestFile.row_bytes`` tells the caller how wide a row is, to choose ``chunk_rows``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from pipeline.contract import INPUT_SUFFIXES, FileReason, FileRejected, Operation
from pipeline.reading import csv_file, parquet_file
from pipeline.reading.header import check_columns, expected_columns, normalise_names

__all__ = ["RequestFile", "iter_chunks", "open_request"]


@dataclass(frozen=True)
class RequestFile:
    """A request file whose header fits its operation, ready to be read in chunks."""

    path: Path
    format: str  # receipt value: "csv", "csv.gz" or "parquet"
    delimiter: str | None  # "," or ";" for CSV (None for Parquet): the result file reuses it
    columns: tuple[str, ...]  # the file's column names, trimmed and lower-cased, in file order
    row_bytes: int = 1  # about how many bytes a data row takes in the file, unpacked
    rows: int | None = None  # the number of data rows, where the file says it (Parquet)

    def about_rows(self) -> int:
        """The number of data rows: exact for Parquet, from the file's size and its first
        rows' width for CSV (fewer for a compressed one)."""
        if self.rows is not None:
            return self.rows
        return self.path.stat().st_size // self.row_bytes


def open_request(path: Path, *, operation: Operation) -> RequestFile:
    """Reads the header (or Parquet schema) only, and refuses a file that cannot be answered."""
    file_format = input_format(path)
    if path.stat().st_size == 0:
        raise FileRejected(FileReason.EMPTY_FILE, "the file is empty (0 bytes)")
    if file_format == "parquet":
        schema, rows, row_bytes = parquet_file.read_footer(path)
        columns = normalise_names(schema.names)
        check_columns(columns, operation=operation)
        parquet_file.check_types(schema, columns=columns)
        return RequestFile(
            path=path,
            format=file_format,
            delimiter=None,
            columns=columns,
            row_bytes=row_bytes,
            rows=rows,
        )
    with csv_file.open_text(path, compressed=file_format == "csv.gz") as stream:
        header = csv_file.read_header(stream)
    columns = normalise_names(header.names)
    check_columns(columns, operation=operation)
    return RequestFile(
        path=path,
        format=file_format,
        delimiter=header.delimiter,
        columns=columns,
        row_bytes=header.row_bytes,
    )


def iter_chunks(
    request: RequestFile,
    *,
    operation: Operation,
    chunk_rows: int = 1_000_000,
    chunk_bytes: int | None = None,
) -> Generator[pl.DataFrame]:
    """Chunks of at most ``chunk_rows`` rows: ``row`` (Int64, 1-based over the whole file), then
    every column of the operation, required first, all String (absent columns null).

    ``chunk_bytes``: a chunk is cut sooner where the file's rows are wide, at about that many
    bytes (of text read from a CSV file, unpacked from a Parquet file's row groups), so that a
    file whose rows grow wider on the way keeps its chunks' size.

    May raise ``FileRejected`` part-way, for a fault found deep in the file.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    if request.format == "parquet":
        frames = parquet_file.iter_frames(
            request.path, columns=request.columns, rows=chunk_rows, most_bytes=chunk_bytes
        )
    else:
        batches = csv_file.iter_batches(
            request.path,
            compressed=request.format == "csv.gz",
            delimiter=request.delimiter or ",",
            columns=request.columns,
        )
        frames = _rechunked(batches, rows=chunk_rows, most_bytes=chunk_bytes)
    shape = expected_columns(operation)
    first_row = 1
    for frame in frames:
        yield frame.select(
            pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64).alias("row"),
            *(
                pl.col(name) if name in frame.columns else pl.lit(None, pl.String).alias(name)
                for name in shape
            ),
        )
        first_row += frame.height


def input_format(path: Path) -> str:
    """``csv``, ``csv.gz`` or ``parquet`` from the file name, whatever its case."""
    name = path.name.lower()
    for suffix in sorted(INPUT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix.removeprefix(".")
    raise FileRejected(
        FileReason.UNSUPPORTED_FILE_TYPE,
        f"`{path.name}` is not a request file: send .csv (UTF-8), .csv.gz or .parquet"
        " (from a spreadsheet: save it as 'CSV UTF-8')",
    )


def _rechunked(
    batches: Iterator[pa.RecordBatch], *, rows: int, most_bytes: int | None = None
) -> Iterator[pl.DataFrame]:
    """Frames of exactly ``rows`` rows (the last one fewer) from batches of any size, or, once
    the batches held reach ``most_bytes``, of all the rows held.

    Each batch becomes a polars frame at once, so that its Arrow buffers are freed early: about
    half the peak memory of gathering Arrow batches into a table first.
    """
    held: list[pl.DataFrame] = []
    count = size = 0  # rows held, and their bytes as pyarrow read them
    for batch in batches:
        held.append(pl.DataFrame(batch))
        count += batch.num_rows
        size += batch.nbytes
        while count >= rows or (count and most_bytes is not None and size >= most_bytes):
            taken = min(rows, count)
            gathered = pl.concat(held, rechunk=False)
            yield gathered.slice(0, taken)
            held, size = [gathered.slice(taken)], size * (count - taken) // count
            count -= taken
    if count:
        yield pl.concat(held, rechunk=False)
