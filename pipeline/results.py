"""Result files: written part by part under a temporary name, whole or not at all.

A lookup writes its answers chunk after chunk, so a file of ten million rows never has to be
held, sorted or copied whole: each chunk's answers arrive sorted by request row and are appended.
CSV goes through polars (quoted only where needed, the request's delimiter, empty for null);
Parquet through pyarrow's writer, Snappy-compressed but for the foreign keys, with
dictionaries only for the columns that repeat (status, country, ...) and statistics only for
``row``: each costs more than it gives on identifiers that are all different. A mutation's
answer comes from DuckDB in parts and goes through the same writers; a first load's CSV result
is copied by DuckDB itself, in that shape; how an answer is put in request order is its
``Ordering``. The audit of a lookup batch is written part by part too, Snappy-compressed whole
(``pipeline.audit``).
"""

from __future__ import annotations

import contextlib
import enum
import gzip
import os
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import IO, Self, cast

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import wait_for_all
from pipeline.contract import RESULT_COLUMNS
from pipeline.files import OUTPUT_MODE, fsync_file
from pipeline.store import plain_strings, query_frame, sql_path

# A result's foreign keys are stored without compression: passport and tax numbers are all
# different, and Snappy shrank them by a quarter (a 1M-row INSZ lookup's result: 37.3 MB, 42.5 MB
# without) for a sixth of the result's write, on the thread a lookup's batch waits for at the
# end (its batch 0.94 s instead of 1.015 s). The audit, kept for months, stays compressed.
_PLAIN_IN_RESULTS = frozenset({"foreign_key"})
# Columns whose values repeat a lot: a Parquet dictionary makes them small and fast to read.
_REPEATING = frozenset({"status", "reason", "message", "country", "key_type", "valid_from",
                        "valid_to", "rule_id", "description", "pattern", "check",
                        "normalisation", "example", "catalogue_version", "batch_id",
                        "institution", "operation", "at", "found", "as_of",
                        "recorded_at"})  # fmt: skip


class PartWriter(ABC):
    """Appends frames of one schema to a file under a temporary name; renames at the end."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.temporary = _temporary(path)

    @abstractmethod
    def write(self, rows: pl.DataFrame | pa.Table) -> None:
        """Appends rows that have (at least) the columns of the schema."""

    @abstractmethod
    def _close(self) -> None:
        """Closes the temporary file."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()
        if error is not None:
            self.temporary.unlink(missing_ok=True)
            return
        _publish(self.temporary, self.path)


def _temporary(path: Path) -> Path:
    """Where ``path`` is written until it is whole (the intake ignores hidden files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp")


def _publish(temporary: Path, path: Path) -> None:
    """The whole file, on disk, under its name."""
    fsync_file(temporary)
    temporary.chmod(OUTPUT_MODE)
    os.replace(temporary, path)


class ParquetPartWriter(PartWriter):
    """Opens on the first rows: text columns keep the Arrow type they come in (``string`` from
    DuckDB, ``string_view`` from polars), as a cast would copy them; Parquet stores both alike.
    The Arrow schema is not stored in the file, so that a reader sees plain Parquet strings."""

    def __init__(
        self, path: Path, schema: pa.Schema, *, uncompressed: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(path, schema)
        self._writer: pq.ParquetWriter | None = None
        self._written = schema
        self._uncompressed = uncompressed

    def write(self, rows: pl.DataFrame | pa.Table) -> None:
        table = self._table(rows).select(self.schema.names)
        if self._writer is None:
            self._written = _with_text_of(self.schema, table.schema)
            self._writer = self._open(self._written)
        if table.schema != self._written:
            table = table.cast(self._written)
        self._writer.write_table(table)

    def _table(self, rows: pl.DataFrame | pa.Table) -> pa.Table:
        """The Arrow table of ``rows`` to write (at least the schema's columns)."""
        if isinstance(rows, pl.DataFrame):
            return rows.to_arrow(compat_level=pl.CompatLevel.newest())  # no copy
        return rows

    def _open(self, schema: pa.Schema) -> pq.ParquetWriter:
        return pq.ParquetWriter(
            self.temporary,
            schema,
            compression={
                name: "none" if name in self._uncompressed else "snappy" for name in schema.names
            },
            use_dictionary=[name for name in schema.names if name in _REPEATING],
            write_statistics=["row"] if "row" in schema.names else False,
            store_schema=False,
        )

    def _close(self) -> None:
        if self._writer is None:  # no rows: the file has the columns
            self._writer = self._open(self.schema)
        self._writer.close()


def _with_text_of(declared: pa.Schema, actual: pa.Schema) -> pa.Schema:
    """``declared``, with the text type of ``actual`` for its text columns."""
    text = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    return pa.schema(
        [
            field.with_type(actual.field(field.name).type)
            if any(is_text(field.type) for is_text in text)
            and any(is_text(actual.field(field.name).type) for is_text in text)
            else field
            for field in declared
        ]
    )


class _CsvWriter(PartWriter):
    def __init__(self, path: Path, schema: pa.Schema, *, delimiter: str, compressed: bool) -> None:
        super().__init__(path, schema)
        handle: IO[bytes] = self.temporary.open("wb")
        self._handle = handle
        if compressed:
            self._handle = gzip.GzipFile(fileobj=handle, mode="wb")  # type: ignore[assignment]
        self._raw = handle
        self._delimiter = delimiter
        self._frame(schema.empty_table()).write_csv(self._handle, separator=delimiter)

    def write(self, rows: pl.DataFrame | pa.Table) -> None:
        if len(rows):
            self._frame(rows).write_csv(
                self._handle, separator=self._delimiter, include_header=False
            )

    def _frame(self, rows: pl.DataFrame | pa.Table) -> pl.DataFrame:
        if isinstance(rows, pl.DataFrame):
            return rows.select(self.schema.names)
        frame = pl.from_arrow(rows.select(self.schema.names))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def _close(self) -> None:
        self._handle.close()
        self._raw.close()


def result_writer(
    path: Path,
    *,
    file_format: str,
    delimiter: str | None,
    columns: tuple[str, ...] = RESULT_COLUMNS,
) -> PartWriter:
    """The writer of a result file (CSV in, CSV out with its delimiter; Parquet in, out).

    Use it as a context manager: the file appears under ``path`` when the block ends normally,
    and nothing is left when it raises.
    """
    schema = pa.schema(
        [pa.field(name, pa.int64() if name == "row" else pa.string()) for name in columns]
    )
    if file_format == "parquet":
        return ParquetPartWriter(path, schema, uncompressed=_PLAIN_IN_RESULTS)
    return _CsvWriter(path, schema, delimiter=delimiter or ",", compressed=file_format == "csv.gz")


class Ordering(enum.Enum):
    """How a staged request's answer comes from DuckDB, and so how ``write_result`` puts it in
    request order: by the cheapest way its operation allows."""

    AS_STAGED = "as staged"
    """``answer`` reads the staged request alone, one row per request row (a ``create`` in which
    every row is answered as staged): DuckDB gives it in request order."""

    CORRECTED = "corrected"
    """``answer_as_staged`` reads the staged request alone, as above; ``answer_corrections``
    holds, in no order, the rows of ``answer`` that differ from it (a ``create``'s contested
    rows not CREATED), at most ``MOST_CORRECTIONS``: their ``row`` and the columns that differ.
    ``answer`` is the two together, in no order."""

    UNSORTED = "unsorted"
    """``answer`` comes in no order."""


AS_STAGED_VIEW = "answer_as_staged"
CORRECTIONS_VIEW = "answer_corrections"
# The corrections ``write_result`` holds in memory (a few columns each: some 40 MB); an answer
# with more (a load sent again, every row ALREADY_EXISTS) is ``Ordering.UNSORTED``.
MOST_CORRECTIONS = 500_000


class AnswerCounts:
    """The receipt's counts: every request row once, by its status and by its reason.

    A request row may have several answer rows (one per link found, per format rule); they
    come together, in request order, so a row is counted at its first answer row, also when
    the frames that are added split its answer rows.
    """

    def __init__(self) -> None:
        self.status: dict[str, int] = {}
        self.reason: dict[str, int] = {}
        self._last_row: int | None = None

    def add(self, answers: pl.DataFrame) -> None:
        """Counts the request rows that start in ``answers`` (sorted by ``row``)."""
        if answers.height == 0:
            return
        row = pl.col("row")
        first = row.ne_missing(row.shift(1, fill_value=self._last_row)) & row.is_not_null()
        groups = (
            answers.lazy()
            .select("row", "status", "reason")  # filtering all the columns copied them
            .filter(first)
            .group_by("status", "reason")
            .len()
            .collect()
        )
        self.add_groups(groups.iter_rows())
        self._last_row = answers["row"][-1]

    def add_groups(self, groups: Iterable[tuple[str, str | None, int]]) -> None:
        """Counts (status, reason, request rows) groups."""
        for status, reason, count in groups:
            self.status[status] = self.status.get(status, 0) + count
            if reason is not None:
                self.reason[reason] = self.reason.get(reason, 0) + count

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"status": dict(sorted(self.status.items())),
                "reason": dict(sorted(self.reason.items()))}  # fmt: skip


def write_result(
    connection: duckdb.DuckDBPyConnection,
    *,
    path: Path,
    file_format: str,
    delimiter: str | None,
    columns: tuple[str, ...] = RESULT_COLUMNS,
    rows: int | None,
    range_rows: int,
    ordering: Ordering = Ordering.UNSORTED,
) -> AnswerCounts:
    """Writes the ``answer`` table or view of a staged request in request order; counts it.

    ``Ordering.AS_STAGED``: CSV is copied by DuckDB on all cores. Parquet is streamed to
    pyarrow's writer ``range_rows`` rows at a time: DuckDB's copy took a third longer and half
    as much CPU again (2M rows), and wrote its own shape of file. The stream's text comes as
    plain strings, which DuckDB makes and pyarrow encodes for less than string views (a 2M-row
    result: 0.66-0.69 CPU s against 0.82-0.87), and DuckDB counts the statuses in one query.

    ``Ordering.CORRECTED``: the corrections are read first, sorted, and the answer as staged is
    streamed as above, each of its parts with its corrected rows put in their place by polars
    (a 2M-row load with 12,000 contested rows: its `write` 0.77-0.91 s instead of 1.02-1.08 s).

    ``Ordering.UNSORTED``, with ``rows`` (the request's row count): the answer is read
    ``range_rows`` request rows at a time: the staged request is stored in row order, so DuckDB
    reads a range of it cheaply, and polars sorts the range while DuckDB reads the next. One sort
    of the whole answer would spill to disk past DuckDB's memory limit: minutes at ten million
    rows. Without (``formats``, whose answer rows are rule rows), the answer is small and sorted
    whole.

    Either way, a thread writes a part while DuckDB makes the next.
    """
    selected = ", ".join(f'"{name}"' for name in columns)  # `check` is a reserved word
    corrections = None
    if ordering is Ordering.CORRECTED:
        corrections = query_frame(connection, f"SELECT * FROM {CORRECTIONS_VIEW}").sort("row")
    if ordering is Ordering.AS_STAGED and file_format != "parquet":
        return _copy_csv(connection, path=path, file_format=file_format, delimiter=delimiter,
                         columns=columns)  # fmt: skip
    order = [name for name in columns if name in _ORDER]
    counts = AnswerCounts()
    writer = result_writer(path, file_format=file_format, delimiter=delimiter, columns=columns)

    def write(part: pa.Table) -> None:
        if ordering is Ordering.AS_STAGED:  # the rows as DuckDB made them
            writer.write(part)
            return
        frame = pl.from_arrow(part, rechunk=True)
        assert isinstance(frame, pl.DataFrame)
        if corrections is not None:
            writer.write(_corrected(frame, corrections))
            return
        frame = frame.sort(order, nulls_last=False)
        writer.write(frame)
        counts.add(frame)

    parts = _answer_parts(connection, selected, rows=rows, range_rows=range_rows, ordering=ordering)
    with (
        writer,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="result") as pool,
        contextlib.closing(parts),  # a failed write ends DuckDB's result: the store goes on
    ):
        written: list[Future[None]] = []
        for part in parts:
            wait_for_all(written)
            written = [pool.submit(write, part)]
        wait_for_all(written)
        if ordering is not Ordering.UNSORTED:  # one answer row per request row: DuckDB counts
            counted = "SELECT status, reason, count(*) FROM answer GROUP BY ALL"
            counts.add_groups(connection.sql(counted).fetchall())
    return counts


def _answer_parts(
    connection: duckdb.DuckDBPyConnection,
    selected: str,
    *,
    rows: int | None,
    range_rows: int,
    ordering: Ordering,
) -> Generator[pa.Table]:
    """The ``answer`` in parts, as ``write_result`` reads it."""
    query = f"SELECT {selected} FROM answer"
    if ordering is not Ordering.UNSORTED:  # in request order: the parts go on as they come
        as_staged = ordering is Ordering.AS_STAGED
        view = "answer" if as_staged else AS_STAGED_VIEW
        # Straight to the writer as plain strings; corrected by polars, as string views.
        strings = plain_strings(connection) if as_staged else contextlib.nullcontext()
        with (
            strings,
            connection.sql(f"SELECT {selected} FROM {view}").to_arrow_reader(range_rows) as batches,
        ):
            for batch in batches:
                yield pa.Table.from_batches([batch])
    elif rows is None:
        yield connection.sql(query).to_arrow_table()
    else:
        for first in range(1, rows + 1, range_rows):
            yield connection.sql(
                f"{query} WHERE row BETWEEN $first AND $last",
                params={"first": first, "last": first + range_rows - 1},
            ).to_arrow_table()


def _corrected(answers: pl.DataFrame, corrections: pl.DataFrame) -> pl.DataFrame:
    """A part of the answer as staged, in request order, with the values of ``corrections``
    (sorted by row) put in their rows: one answer row per request row, so each correction
    replaces the values of its row's number, in the columns it has.

    The part comes as string views, which polars takes as they are: a 2M-row result with
    12,000 corrections made and written in 1.10-1.16 CPU s so, 1.18-1.27 from plain strings,
    which polars converts. Only the corrected columns through polars, the others left plain:
    0.99-1.01 CPU s alone, but no quicker in the processor (three pairs)."""
    rows, corrected = answers["row"], corrections["row"]
    if rows.is_empty():
        return answers
    first = cast(int, corrected.search_sorted(rows.first(), side="left"))
    end = cast(int, corrected.search_sorted(rows.last(), side="right"))
    if first == end:
        return answers
    replacing = corrections.slice(first, end - first)
    at = rows.search_sorted(replacing["row"])
    assert rows.gather(at).equals(replacing["row"]), "a correction for a row not in its part"
    # A column is copied to be corrected (0.15 s for 2M rows, five columns): only those whose
    # values the corrections change are (a duplicate keeps the dates it was sent).
    changed = [
        name
        for name in replacing.columns
        if name != "row" and not answers[name].gather(at).equals(replacing[name])
    ]
    return answers.with_columns(answers[name].scatter(at, replacing[name]) for name in changed)


def _copy_csv(
    connection: duckdb.DuckDBPyConnection,
    *,
    path: Path,
    file_format: str,
    delimiter: str | None,
    columns: tuple[str, ...],
) -> AnswerCounts:
    """DuckDB's ``COPY`` of an answer in request order to CSV, as ``result_writer`` writes it:
    quoted where needed, empty for null, with the request's delimiter."""
    selected = ", ".join(f'CAST("{name}" AS VARCHAR) AS "{name}"' for name in columns)
    separator = (delimiter or ",").replace("'", "''")
    options = f"FORMAT csv, HEADER, DELIMITER '{separator}'"
    options += ", COMPRESSION gzip" if file_format == "csv.gz" else ""
    temporary = _temporary(path)
    counts = AnswerCounts()
    try:
        connection.execute(
            f"COPY (SELECT {selected} FROM answer) TO '{sql_path(temporary)}' ({options})"
        )
        counts.add_groups(
            connection.sql("SELECT status, reason, count(*) FROM answer GROUP BY ALL").fetchall()
        )
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _publish(temporary, path)
    return counts


_ORDER = frozenset({"row", "country", "key_type", "foreign_key", "rule_id"})
