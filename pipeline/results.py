"""Result and audit files: written part by part under a temporary name, whole or not at all.

A lookup writes its answers chunk after chunk, so a file of ten million rows never has to be
held, sorted or copied whole: each chunk's answers arrive sorted by request row and are appended.
CSV goes through polars (quoted only where needed, the request's delimiter, empty for null);
Parquet through pyarrow's writer, Snappy-compressed, with dictionaries only for the columns that
repeat (status, country, ...) and statistics only for ``row``: both cost more than they give
on identifiers that are all different.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.contract import RESULT_COLUMNS
from pipeline.files import OUTPUT_MODE, fsync_file

# Columns whose values repeat a lot: a Parquet dictionary makes them small and fast to read.
_REPEATING = frozenset({"status", "reason", "message", "country", "key_type", "valid_from",
                        "valid_to", "rule_id", "description", "pattern", "check",
                        "normalisation", "example", "catalogue_version", "batch_id",
                        "institution", "operation", "at", "found", "as_of",
                        "recorded_at"})  # fmt: skip
_BATCH_ROWS = 1 << 17


class _PartWriter(ABC):
    """Appends frames of one schema to a file under a temporary name; renames at the end."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = schema
        self.temporary = path.with_name(f".{path.name}.tmp")

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
        fsync_file(self.temporary)
        self.temporary.chmod(OUTPUT_MODE)
        os.replace(self.temporary, self.path)


class _ParquetWriter(_PartWriter):
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path, schema)
        self._writer = pq.ParquetWriter(
            self.temporary,
            schema,
            compression="snappy",
            use_dictionary=[name for name in schema.names if name in _REPEATING],
            write_statistics=["row"] if "row" in schema.names else False,
        )

    def write(self, rows: pl.DataFrame | pa.Table) -> None:
        table = self._table(rows)
        self._writer.write_table(table.select(self.schema.names).cast(self.schema))

    def _table(self, rows: pl.DataFrame | pa.Table) -> pa.Table:
        """The Arrow table of ``rows`` to write (at least the schema's columns)."""
        return rows.to_arrow() if isinstance(rows, pl.DataFrame) else rows

    def _close(self) -> None:
        self._writer.close()


class _CsvWriter(_PartWriter):
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
        frame = rows if isinstance(rows, pl.DataFrame) else pl.from_arrow(rows)
        assert isinstance(frame, pl.DataFrame)
        return frame.select(self.schema.names)

    def _close(self) -> None:
        self._handle.close()
        self._raw.close()


def result_writer(
    path: Path,
    *,
    file_format: str,
    delimiter: str | None,
    columns: tuple[str, ...] = RESULT_COLUMNS,
) -> _PartWriter:
    """The writer of a result file (CSV in, CSV out with its delimiter; Parquet in, out).

    Use it as a context manager: the file appears under ``path`` when the block ends normally,
    and nothing is left when it raises.
    """
    # large_string is what polars gives: no conversion on the way out
    schema = pa.schema(
        [pa.field(name, pa.int64() if name == "row" else pa.large_string()) for name in columns]
    )
    if file_format == "parquet":
        return _ParquetWriter(path, schema)
    return _CsvWriter(
        path, schema, delimiter=delimiter or ",", compressed=file_format == "csv.gz"
    )


def write_result(
    connection: duckdb.DuckDBPyConnection,
    *,
    path: Path,
    file_format: str,
    delimiter: str | None,
    columns: tuple[str, ...] = RESULT_COLUMNS,
) -> None:
    """Writes the ``answer`` table of a staged request in request order."""
    order = ", ".join(f'"{name}" NULLS FIRST' for name in columns if name in _ORDER)
    selected = ", ".join(f'"{name}"' for name in columns)  # `check` is a reserved word
    answers = connection.sql(f"SELECT {selected} FROM answer ORDER BY {order}")
    with result_writer(
        path, file_format=file_format, delimiter=delimiter, columns=columns
    ) as writer:
        for batch in answers.to_arrow_reader(_BATCH_ROWS):
            writer.write(pa.Table.from_batches([batch]))


_ORDER = frozenset({"row", "country", "key_type", "foreign_key", "rule_id"})


# ---------------------------------------------------------------- the consultation audit

_CONSTANT = pa.dictionary(pa.int8(), pa.string())  # one value per file: stored once
AUDIT_SCHEMA = pa.schema(
    [
        pa.field("batch_id", _CONSTANT),
        pa.field("institution", _CONSTANT),
        pa.field("operation", _CONSTANT),
        pa.field("at", pa.timestamp("us", tz="UTC")),
        pa.field("row", pa.int64()),
        pa.field("insz", pa.string()),
        pa.field("country", pa.string()),
        pa.field("key_type", pa.string()),
        pa.field("foreign_key", pa.string()),
        pa.field("as_of", pa.date32()),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC")),
        pa.field("found", pa.bool_()),
        pa.field("found_insz", pa.string()),
    ]
)


class ConsultationWriter(_ParquetWriter):
    """The audit of one lookup batch: who asked which INSZ or key, when, and what was answered.

    ``write`` takes the joined rows of the lookup answers (``LookupAnswers.joined``, in the order
    the join gave them): one audit row each; rejected rows consulted nothing and are left out.
    """

    def __init__(
        self, path: Path, *, batch_id: str, institution: str, operation: str, at: dt.datetime
    ) -> None:
        super().__init__(path, AUDIT_SCHEMA)
        self._constants = {"batch_id": batch_id, "institution": institution, "operation": operation}
        self._at = pa.scalar(at, type=pa.timestamp("us", tz="UTC"))

    def _table(self, rows: pl.DataFrame | pa.Table) -> pa.Table:
        """The audit rows of the joined rows of a chunk."""
        joined = super()._table(rows)
        count = joined.num_rows
        found = pc.equal(joined["status"], "FOUND")
        zeros = pa.repeat(pa.scalar(0, pa.int8()), count)
        columns: dict[str, pa.Array | pa.ChunkedArray] = {
            name: pa.DictionaryArray.from_arrays(zeros, pa.array([value], pa.string()))
            for name, value in self._constants.items()
        }
        nothing = pa.nulls(count, pa.string())
        if self._constants["operation"] == "lookup-insz":
            asked = {
                "insz": pc.coalesce(joined["replaced_insz"], joined["insz"]),
                "country": joined["asked_country"],
                "foreign_key": nothing,
            }
        else:
            asked = {"insz": nothing, "country": joined["country"],
                     "foreign_key": joined["foreign_key"]}  # fmt: skip
        columns |= {
            "at": pa.repeat(self._at, count),
            "row": joined["row"],
            **asked,
            "key_type": joined["asked_key_type"],
            "as_of": joined["as_of_d"],
            "recorded_at": joined["recorded_at_ts"],
            "found": found,
            "found_insz": pc.if_else(found, joined["insz"], pa.scalar(None, pa.string())),
        }
        return pa.table(columns)
