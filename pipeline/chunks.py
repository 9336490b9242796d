"""A request file chunk after chunk: staged for a mutation, answered as it comes for a lookup.

Each chunk is read in a thread while the one before is validated (``read_ahead``), and handed
on to threads of its own (staged; or assembled, written and audited): all of it outside the
GIL, on both cores. Memory depends on the size of a chunk, not of the file.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl
import pyarrow as pa

from pipeline import read_ahead, wait_for_all
from pipeline.audit import ConsultationWriter
from pipeline.contract import Operation
from pipeline.operations.answer import stage_rows, start_request
from pipeline.operations.lookups import MOST_FOUND_PER_ROW, answer_pieces, found_by_piece
from pipeline.reading import RequestFile, iter_chunks
from pipeline.results import AnswerCounts, result_writer
from pipeline.validation import Rules, staged_schema, validate_chunk

T = TypeVar("T")

# Called after each validated chunk with the rows read so far.
OnChunk = Callable[[int], None]

# Rows validated (and, for a lookup, answered) at a time: memory depends on it, not on the file.
CHUNK_ROWS = 500_000
# And the request's bytes a chunk holds at most, for files of wide rows (an eIDAS identifier
# may have 256 characters): a chunk's text is held several times over on its way (read,
# normalised, staged, answered, audited, with the next chunk read ahead), and polars keeps a
# value of more than 12 bytes beside its 16-byte view. Key lookups against 20M links, in 1M-row
# chunks, peaked at 1.5-1.7 GB with keys of about 10 characters, 1.84 GB with keys of 45 and
# 2.7 GB with keys of 200 (and 36-character refs); at most 64 MiB a chunk, 1.57 and 1.31 GB.
# The rows a chunk has come from the width of the file's first rows (``chunk_rows``), and the
# reader also cuts a chunk at that many bytes, should the rows widen further on.
CHUNK_BYTES = 64 * 1024**2
# A lookup's chunks are smaller while the store is small: the output of the last chunk is what
# the batch waits for at its end (at 2M links, 250k-row chunks save 7 %). Each chunk's join
# reads the links again (the columns of the links found come from every part of the table), so
# a chunk has at least one row per so many links, and grows with the store: (links per chunk
# row, most rows in a chunk as a multiple of CHUNK_ROWS). At 20M links, a 10M-row file:
# - key lookup (its join scans the links' text keys): 19-23 s in 1M-row chunks (1.5-1.7 GB,
#   with the next chunk read ahead), 24-25 s in 500k-row chunks (1.1 GB), as measured then;
# - INSZ lookup: 14.2-14.3 s (Parquet) and 14.1 s (CSV) in 500k-row chunks, at 1.35-1.39 GB;
#   in 1M-row chunks 12.6-12.7 s at 1.76-1.82 GB, and 12.0-13.1 s and 11.9 s at 1.67-1.75 GB
#   with their answers made in pieces (``ANSWER_PIECE_ROWS``).
LOOKUP_CHUNKS = {Operation.LOOKUP_INSZ: (20, 2), Operation.LOOKUP_KEY: (20, 2)}
# The answers of a lookup chunk are made and written this many at a time (``answer_pieces``).
# Pieces of half as many: 0.3 s and 0.1 GB less at 20M links, but 0.05-0.1 s more at 2M, where
# a chunk's 300k answers then make two pieces.
ANSWER_PIECE_ROWS = CHUNK_ROWS

# A load of more rows is staged in a database file of its own (``STAGED_DATABASE``), which
# DuckDB compresses, rather than in a temporary table, held uncompressed (130 bytes a row) and
# spilled past the memory limit. Loads from Parquet, each way: 5M rows 8.0-8.3 s in a file
# against 7.4-7.7 s in memory (peak 0.85 GB against 1.2 GB), 7M rows 11.1-11.3 s against
# 11.0-11.3 s, 10M rows 15.4-16.0 s against 16.1-17.1 s, 20M rows 28-29 s against 31-33 s.
# Only a load: the other mutations mark their repeated rows in the staged request, in the
# transaction that changes the links, and a transaction writes to one database file only.
STAGED_IN_MEMORY_ROWS = 6_000_000

_EMPTY_FORMATS = {"row": pl.Int64(), "country": pl.String(), "key_type": pl.String()}


class Stages:
    """Seconds a batch spent per stage (read, validate, join, ...), for its last log line.

    Stages that run in a thread beside others (a lookup's assembly, write and audit, a
    mutation's stage) overlap them: the seconds then add up to more than the batch took.
    ``read`` is what the batch waited for the reader thread: the reading itself overlaps the
    chunk before.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def timed(self, stage: str, items: Iterable[T]) -> Iterator[T]:
        """``items`` as they come, the time spent producing them counted to ``stage``; an item
        handed out is not kept (the caller may free it: peak memory)."""
        iterator = iter(items)

        def take() -> T:
            with self.timing(stage):
                return next(iterator)

        while True:
            try:
                yield take()
            except StopIteration:
                return

    def __str__(self) -> str:
        return ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in self.seconds.items())


def chunk_rows(request: RequestFile, rows: int | None = None) -> int:
    """``rows`` (``CHUNK_ROWS``), or fewer for a file of wide rows: at most ``CHUNK_BYTES`` of
    it a chunk."""
    wanted = CHUNK_ROWS if rows is None else rows
    return max(1, min(wanted, CHUNK_BYTES // request.row_bytes))


def stage_request(
    connection: duckdb.DuckDBPyConnection,
    request: RequestFile,
    *,
    operation: Operation,
    rules: Rules,
    work_dir: Path,
    stages: Stages,
    on_chunk: OnChunk | None = None,
) -> int:
    """Validates chunk after chunk into the ``request`` table (temporary, in DuckDB's memory,
    or, for a large load, in a database file of its own in ``work_dir``: ``start_request``);
    returns the number of rows.

    DuckDB stores a chunk in a thread while polars validates the next one, and a third thread
    reads the one after (``read_ahead``). Each chunk waits for the previous one's insert (row
    order).
    """
    empty = _EMPTY_FORMATS if operation is Operation.FORMATS else staged_schema(operation)
    in_file = operation is Operation.CREATE and request.about_rows() > STAGED_IN_MEMORY_ROWS
    table = start_request(
        connection, pl.Schema(empty), file=work_dir / "staged.duckdb" if in_file else None
    )
    rows = 0

    def stage(staged: pl.DataFrame) -> None:
        with stages.timing("stage"):
            stage_rows(connection, staged, table=table)

    size = chunk_rows(request)
    chunks = read_ahead(
        iter_chunks(request, operation=operation, chunk_rows=size, chunk_bytes=CHUNK_BYTES)
    )
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage") as stager,
        closing(chunks),
    ):
        stored: list[Future[None]] = []
        for chunk in stages.timed("read", chunks):
            with stages.timing("validate"):
                validated = (
                    chunk
                    if operation is Operation.FORMATS
                    else validate_chunk(chunk, operation=operation, rules=rules)
                )
                staged = validated.select(*empty)
            rows += chunk.height
            with stages.timing("stage wait"):
                wait_for_all(stored)
            stored = [stager.submit(stage, staged)]
            if on_chunk is not None:
                on_chunk(rows)
        with stages.timing("stage wait"):
            wait_for_all(stored)
    return rows


@dataclass
class Answered:
    """What the chunks of a lookup added up to: rows read and the receipt's counts."""

    rows: int = 0
    counts: AnswerCounts = field(default_factory=AnswerCounts)


@dataclass(frozen=True)
class Consultation:
    """Who consulted the register with a lookup file, and when: the audit's constants."""

    batch_id: str
    institution: str
    at: dt.datetime


def answer_lookup(
    connection: duckdb.DuckDBPyConnection,
    request: RequestFile,
    *,
    operation: Operation,
    rules: Rules,
    result_path: Path,
    file_format: str,
    audit_path: Path,
    consultation: Consultation,
    stages: Stages,
    on_chunk: OnChunk | None = None,
) -> Answered:
    """Answers a lookup chunk after chunk into its result and audit files (``result_path``,
    ``audit_path``): nothing is staged, the answers are appended as the chunks come.

    The main thread validates and joins a chunk (DuckDB finds its links) while a reader thread
    reads the next (``read_ahead``); an output thread puts the answers of the chunk before
    together, a piece at a time (``answer_pieces``), and writes them to the result, and a
    second one to the audit. Each chunk waits for the previous one's output, so at most three
    are held at a time: one read, one joined, one written.
    """
    answered = Answered()
    size = chunk_rows(request, _lookup_chunk_rows(connection, operation))
    chunks = read_ahead(
        iter_chunks(request, operation=operation, chunk_rows=size, chunk_bytes=CHUNK_BYTES)
    )

    def write_audit(answers: pl.DataFrame) -> None:
        with stages.timing("audit"):
            audit.write(answers)

    def answer_and_write(rows: pl.DataFrame, links: pa.Table) -> None:
        pieces = answer_pieces(rows, links, operation=operation, most=ANSWER_PIECE_ROWS)
        for answers in stages.timed("assemble", pieces):
            auditing = [auditor.submit(write_audit, answers)]
            with stages.timing("write"):
                result.write(answers)
                answered.counts.add(answers)
            wait_for_all(auditing)

    with (
        result_writer(result_path, file_format=file_format, delimiter=request.delimiter) as result,
        ConsultationWriter(
            audit_path,
            batch_id=consultation.batch_id,
            institution=consultation.institution,
            operation=operation.value,
            at=consultation.at,
        ) as audit,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="output") as output,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit") as auditor,
        closing(chunks),
    ):
        outputs: list[Future[None]] = []
        for chunk in stages.timed("read", chunks):
            answered.rows += chunk.height
            with stages.timing("validate"):
                staged = validate_chunk(chunk, operation=operation, rules=rules)
            del chunk  # freed while the chunk before is still written: peak memory
            found = found_by_piece(
                connection,
                staged,
                operation=operation,
                today=rules.reference_date,
                most=MOST_FOUND_PER_ROW * size,
            )
            del staged  # each piece is held until it is written, and no longer
            for piece, links in stages.timed("join", found):
                with stages.timing("output wait"):
                    wait_for_all(outputs)
                outputs = [output.submit(answer_and_write, piece, links)]
                del piece, links
            if on_chunk is not None:
                on_chunk(answered.rows)
        with stages.timing("output wait"):
            wait_for_all(outputs)
    return answered


def _lookup_chunk_rows(connection: duckdb.DuckDBPyConnection, operation: Operation) -> int:
    """From half ``CHUNK_ROWS`` up, by the store's size (``LOOKUP_CHUNKS``)."""
    links_per_row, most = LOOKUP_CHUNKS[operation]
    [(links,)] = connection.execute("SELECT count(*) FROM links").fetchall()
    return min(most * CHUNK_ROWS, max(CHUNK_ROWS // 2, links // links_per_row))
