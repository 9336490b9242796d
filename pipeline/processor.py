"""The processor: recovers the work area, then answers every claimed file, stage after stage."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
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

from pipeline import __version__, ledger, read_ahead, result_of, utc_now, wait_for_all
from pipeline.config import Settings
from pipeline.contract import FileReason, FileRejected, Operation, ReceiptStatus
from pipeline.files import file_digest, is_dry_run, move_atomic, split_name, write_atomic
from pipeline.intake import Claimed, archive_input, quarantine_work_dir, read_claim
from pipeline.operations.answer import (
    answer_request,
    apply_changes,
    drop_work_tables,
    result_columns,
    stage_rows,
    start_request,
)
from pipeline.operations.lookups import (
    LOOKUPS,
    MOST_FOUND_PER_ROW,
    answer_pieces,
    found_by_piece,
)
from pipeline.reading import RequestFile, iter_chunks, open_request
from pipeline.receipts import Receipt
from pipeline.results import (
    AnswerCounts,
    ConsultationWriter,
    result_writer,
    write_result,
)
from pipeline.store import store_version
from pipeline.validation import STAGED_SCHEMA, Rules, validate_chunk

log = logging.getLogger(__name__)
T = TypeVar("T")

Clock = Callable[[], dt.datetime]
# Called after each validated chunk: (batch id, file name, file size in bytes, rows so far).
ProgressHook = Callable[[str, str, int, int], None]

# Rows validated (and, for a lookup, answered) at a time: memory depends on it, not on the file.
CHUNK_ROWS = 500_000
# And the request's bytes a chunk holds at most, for files of wide rows (an eIDAS identifier
# may have 256 characters): a chunk's text is held several times over on its way (read,
# normalised, staged, answered, audited, with the next chunk read ahead), and polars keeps a
# value of more than 12 bytes beside its 16-byte view. Key lookups against 20M links, in 1M-row
# chunks, peaked at 1.5-1.7 GB with keys of about 10 characters, 1.84 GB with keys of 45 and
# 2.7 GB with keys of 200 (and 36-character refs); at most 64 MiB a chunk, 1.57 and 1.31 GB.
# The rows a chunk has come from the width of the file's first rows (``_chunk_rows``), and the
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


# DuckDB errors that say the store itself cannot work: the processor stops (exit 1) and the
# claimed file waits in work/ for the next pass. Any other error concerns the file alone.
STORE_FAILURES = (
    duckdb.IOException,
    duckdb.OutOfMemoryException,
    duckdb.FatalException,
    duckdb.InternalException,
    duckdb.ConnectionException,
    duckdb.PermissionException,
    duckdb.InterruptException,
)


class ProcessorError(Exception):
    """The processor itself cannot go on (the store failed); the claimed file stays for a retry."""


@dataclass(frozen=True)
class FileReport:
    """What one file got, for the summary of a pass."""

    batch_id: str
    institution: str
    operation: str
    file: str
    status: ReceiptStatus
    reason: FileReason | None
    rows: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class Processor:
    """Answers claimed files against one open store; one instance per pass or watch loop."""

    settings: Settings
    connection: duckdb.DuckDBPyConnection
    rules: Rules
    dry_run: bool = False
    clock: Clock = utc_now
    progress: ProgressHook | None = None

    def recover(self) -> list[FileReport]:
        """Finishes what a crash interrupted: committed files are delivered, others redone."""
        reports: list[FileReport] = []
        if not self.settings.work.is_dir():
            return reports
        for work_dir in sorted(p for p in self.settings.work.iterdir() if p.is_dir()):
            claimed = read_claim(work_dir)
            if claimed is None:
                quarantine_work_dir(work_dir, self.settings)
                continue
            entry = ledger.find(self.connection, claimed.batch_id)
            if entry is not None:
                log.info("recovery: delivering committed batch %s", claimed.batch_id)
                self._deliver(claimed, entry)
            else:
                log.info("recovery: processing batch %s again from scratch", claimed.batch_id)
                _clear_derived(work_dir)
                reports.append(self.process(claimed))
        return reports

    def process(
        self, claimed: Claimed, *, digest: Future[tuple[str, int]] | None = None
    ) -> FileReport:
        """Answers one claimed file, commits it with its ledger entry, delivers its outputs;
        what it staged in DuckDB goes with it, whatever its receipt (``drop_work_tables``).

        ``digest``: the file's ``file_digest``, computed in a thread since the file was claimed
        (``process_inbox``); without it, computed here.
        """
        try:
            return self._process(claimed, digest=digest)
        finally:
            self._drop_work_tables()

    def _process(self, claimed: Claimed, *, digest: Future[tuple[str, int]] | None) -> FileReport:
        sha256, size = file_digest(claimed.input_path) if digest is None else result_of(digest)
        stem, extension = split_name(claimed.file_name)
        facts = _Facts(
            claimed=claimed,
            sha256=sha256,
            size=size,
            file_format=extension.lower(),
            dry_run=self.dry_run or is_dry_run(claimed.file_name),
            output_base=self._output_base(claimed, stem),
        )
        log.info(
            "batch %s started: %s/%s %s (%d bytes)",
            claimed.batch_id,
            claimed.institution,
            claimed.operation,
            claimed.file_name,
            size,
        )
        try:
            self._check_file(facts)
            request = open_request(claimed.input_path, operation=claimed.operation)
            if claimed.operation in LOOKUPS:
                answered = self._answer_lookups(facts, request)
            else:
                rows = self._stage(facts, request)
        except FileRejected as rejection:
            log.warning("batch %s rejected: %s", claimed.batch_id, rejection.reason)
            return self._commit_without_answer(facts, ReceiptStatus.REJECTED, rejection)
        except _Duplicate as duplicate:
            log.info("batch %s is a duplicate of %s", claimed.batch_id, duplicate.first_batch_id)
            return self._commit_without_answer(facts, ReceiptStatus.DUPLICATE, duplicate)
        except STORE_FAILURES as exc:
            raise ProcessorError(f"batch {claimed.batch_id}: the store failed: {exc}") from exc
        except Exception as exc:  # a file we cannot read must not stop the processor
            return self._reject_unexpected(facts, exc, stage="read")
        if claimed.operation in LOOKUPS:
            return self._commit_lookups(facts, answered)
        return self._commit_answer(facts, request, rows)

    def _drop_work_tables(self) -> None:
        """A staged file's temporary tables and views go with it (``drop_work_tables``). Should
        the store fail here, the next file, or the error that stops the processor, says so."""
        try:
            drop_work_tables(self.connection)
        except duckdb.Error as exc:
            log.warning("the last file's temporary tables stay (%s)", type(exc).__name__)

    def _reject_unexpected(self, facts: _Facts, exc: Exception, *, stage: str) -> FileReport:
        """An error no check foresaw: the file is refused whole, the next one goes on.

        The log names only the error's type: its text could quote a value of the file.
        """
        log.error(
            "batch %s could not be %s (%s): refused as UNREADABLE_FILE",
            facts.claimed.batch_id, "read" if stage == "read" else "answered", type(exc).__name__,
        )  # fmt: skip
        rejection = FileRejected(
            FileReason.UNREADABLE_FILE,
            f"the file could not be {'read' if stage == 'read' else 'answered'}"
            f" ({type(exc).__name__}: {exc}); nothing was applied",
        )
        return self._commit_without_answer(facts, ReceiptStatus.REJECTED, rejection)

    def _check_file(self, facts: _Facts) -> None:
        claimed = facts.claimed
        institution = self.settings.institutions.get(claimed.institution)
        if institution is None or not institution.may(claimed.operation):
            raise FileRejected(
                FileReason.OPERATION_NOT_ALLOWED,
                f"{claimed.institution} may not use `{claimed.operation}` (see linkreg.toml)",
            )
        if facts.size > self.settings.max_file_bytes:
            raise FileRejected(
                FileReason.FILE_TOO_LARGE,
                f"the file has {facts.size} bytes; the limit is {self.settings.max_file_bytes}:"
                " split it into smaller files",
            )
        first = ledger.first_accepted(
            self.connection,
            institution=claimed.institution,
            operation=claimed.operation,
            sha256=facts.sha256,
        )
        if first is not None:
            raise _Duplicate(first)

    def _stage(self, facts: _Facts, request: RequestFile) -> int:
        """Validates chunk after chunk into the ``request`` table (temporary, in DuckDB's
        memory, or, for a large file, in a database file of its own: ``start_request``);
        returns the number of rows.

        DuckDB stores a chunk in a thread while polars validates the next one, and a third
        thread reads the one after (``read_ahead``): all work outside the GIL. Each chunk waits
        for the previous one's insert (row order).
        """
        operation = facts.claimed.operation
        empty = _EMPTY_FORMATS if operation is Operation.FORMATS else STAGED_SCHEMA
        in_file = operation is Operation.CREATE and request.about_rows() > STAGED_IN_MEMORY_ROWS
        work_dir = facts.claimed.work_dir
        table = start_request(
            self.connection, pl.Schema(empty), file=work_dir / "staged.duckdb" if in_file else None
        )
        rows = 0
        stages = facts.stages

        def stage(staged: pl.DataFrame) -> None:
            with stages.timing("stage"):
                stage_rows(self.connection, staged, table=table)

        chunk_rows = _chunk_rows(request, CHUNK_ROWS)
        chunks = read_ahead(
            iter_chunks(
                request, operation=operation, chunk_rows=chunk_rows, chunk_bytes=CHUNK_BYTES
            )
        )
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage") as stager,
            closing(chunks),
        ):
            stored: list[Future[None]] = []
            for chunk in stages.timed("read", chunks):
                with stages.timing("validate"):
                    if operation is Operation.FORMATS:
                        staged = chunk.select(*empty)
                    else:
                        staged = validate_chunk(chunk, operation=operation, rules=self.rules)
                rows += chunk.height
                with stages.timing("stage wait"):
                    wait_for_all(stored)
                stored = [stager.submit(stage, staged)]
                if self.progress is not None:
                    claimed = facts.claimed
                    self.progress(claimed.batch_id, claimed.file_name, facts.size, rows)
            with stages.timing("stage wait"):
                wait_for_all(stored)
        return rows

    def _answer_lookups(self, facts: _Facts, request: RequestFile) -> _Answered:
        """Answers a lookup chunk after chunk: nothing is staged, the result and the audit are
        appended as the chunks come, so memory depends on the chunk size only.

        The main thread validates and joins a chunk (DuckDB finds its links) while a reader
        thread reads the next (``read_ahead``); an output thread puts the answers of the chunk
        before together, a piece at a time (``answer_pieces``), and writes them to the result,
        and a second one to the audit. All of it runs outside the GIL, on both cores. Each chunk
        waits for the previous one's output, so at most three are held at a time: one read,
        one joined, one written.
        """
        claimed = facts.claimed
        operation = claimed.operation
        work_dir = claimed.work_dir
        answered = _Answered(result_name=f"{facts.output_base}.result.{facts.file_format}")
        stages = facts.stages
        chunk_rows = _chunk_rows(request, self._lookup_chunk_rows(operation))
        chunks = read_ahead(
            iter_chunks(
                request, operation=operation, chunk_rows=chunk_rows, chunk_bytes=CHUNK_BYTES
            )
        )

        def write_audit(answers: pl.DataFrame) -> None:
            with stages.timing("audit"):
                audit.write(answers)

        def answer_and_write(rows: pl.DataFrame, links: pa.Table) -> None:
            pieces = answer_pieces(rows, links, operation=operation, most=ANSWER_PIECE_ROWS)
            for answers in stages.timed("assemble", pieces):
                audited = [auditor.submit(write_audit, answers)]
                with stages.timing("write"):
                    result.write(answers)
                    answered.counts.add(answers)
                wait_for_all(audited)

        with (
            result_writer(
                work_dir / "result" / answered.result_name,
                file_format=facts.file_format,
                delimiter=request.delimiter,
            ) as result,
            ConsultationWriter(
                work_dir / "audit.parquet",
                batch_id=claimed.batch_id,
                institution=claimed.institution,
                operation=operation.value,
                at=self.clock(),
            ) as audit,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="output") as output,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit") as auditor,
            closing(chunks),
        ):
            written: list[Future[None]] = []
            for chunk in stages.timed("read", chunks):
                answered.rows += chunk.height
                with stages.timing("validate"):
                    staged = validate_chunk(chunk, operation=operation, rules=self.rules)
                del chunk  # freed while the chunk before is still written: peak memory
                found = found_by_piece(
                    self.connection,
                    staged,
                    operation=operation,
                    today=self.rules.reference_date,
                    most=MOST_FOUND_PER_ROW * chunk_rows,
                )
                del staged  # each piece is held until it is written, and no longer
                for piece, links in stages.timed("join", found):
                    with stages.timing("output wait"):
                        wait_for_all(written)
                    written = [output.submit(answer_and_write, piece, links)]
                    del piece, links
                if self.progress is not None:
                    self.progress(claimed.batch_id, claimed.file_name, facts.size, answered.rows)
            with stages.timing("output wait"):
                wait_for_all(written)
        return answered

    def _lookup_chunk_rows(self, operation: Operation) -> int:
        """From half ``CHUNK_ROWS`` up, by the store's size (``LOOKUP_CHUNKS``)."""
        links_per_row, most = LOOKUP_CHUNKS[operation]
        [(links,)] = self.connection.execute("SELECT count(*) FROM links").fetchall()
        return min(most * CHUNK_ROWS, max(CHUNK_ROWS // 2, links // links_per_row))

    def _commit_lookups(self, facts: _Facts, answered: _Answered) -> FileReport:
        """A lookup changes nothing: its commit is the ledger entry alone."""
        receipt = self._receipt(
            facts,
            ReceiptStatus.ACCEPTED,
            rows=answered.rows,
            counts=answered.counts.as_dict(),
            result=answered.result_name,
        )
        return self._record_and_deliver(facts, receipt, answered.result_name)

    def _commit_answer(self, facts: _Facts, request: RequestFile, rows: int) -> FileReport:
        claimed = facts.claimed
        work_dir = claimed.work_dir
        result_name = f"{facts.output_base}.result.{facts.file_format}"
        now = self.clock()
        connection = self.connection
        try:
            connection.execute("BEGIN TRANSACTION")
            try:
                with facts.stages.timing("answer"):
                    in_order = answer_request(
                        connection, operation=claimed.operation, rules=self.rules
                    )
                with facts.stages.timing("write"):
                    counts = write_result(
                        connection,
                        path=work_dir / "result" / result_name,
                        file_format=facts.file_format,
                        delimiter=request.delimiter,
                        columns=result_columns(claimed.operation),
                        rows=None if claimed.operation is Operation.FORMATS else rows,
                        range_rows=_chunk_rows(request, CHUNK_ROWS),
                        in_order=in_order,
                    )
                changed = 0
                if claimed.operation.mutates and not facts.dry_run:
                    with facts.stages.timing("apply"):
                        changed = apply_changes(
                            connection,
                            operation=claimed.operation,
                            batch_id=claimed.batch_id,
                            institution=claimed.institution,
                            now=now,
                        )
                if changed:
                    connection.execute("UPDATE store_state SET store_version = store_version + 1")
                receipt = self._receipt(
                    facts,
                    ReceiptStatus.ACCEPTED,
                    rows=rows,
                    counts=counts.as_dict(),
                    result=result_name,
                )
                ledger.record(
                    connection,
                    receipt=receipt,
                    ledger_id=claimed.batch_id,
                    output_base=facts.output_base,
                    result_name=result_name,
                )
                with facts.stages.timing("commit"):
                    connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        except STORE_FAILURES as exc:
            raise ProcessorError(f"batch {claimed.batch_id}: the store failed: {exc}") from exc
        except duckdb.Error as exc:
            return self._reject_unexpected(facts, exc, stage="answer")
        self._deliver_fresh(claimed, receipt, result_name, stages=facts.stages)
        return _report(receipt)

    def _commit_without_answer(
        self, facts: _Facts, status: ReceiptStatus, why: FileRejected | _Duplicate
    ) -> FileReport:
        if isinstance(why, _Duplicate):
            receipt = self._receipt(facts, status, first_batch_id=why.first_batch_id)
        else:
            receipt = self._receipt(facts, status, rejection=why)
        return self._record_and_deliver(facts, receipt, None)

    def _record_and_deliver(
        self, facts: _Facts, receipt: Receipt, result_name: str | None
    ) -> FileReport:
        """The ledger entry alone is the commit (nothing changes in the store); then delivery."""
        try:
            ledger.record(
                self.connection,
                receipt=receipt,
                ledger_id=facts.claimed.batch_id,
                output_base=facts.output_base,
                result_name=result_name,
            )
        except duckdb.Error as exc:
            raise ProcessorError(
                f"batch {facts.claimed.batch_id}: the store failed: {exc}"
            ) from exc
        self._deliver_fresh(facts.claimed, receipt, result_name, stages=facts.stages)
        return _report(receipt)

    def _receipt(
        self,
        facts: _Facts,
        status: ReceiptStatus,
        *,
        rows: int = 0,
        counts: dict[str, dict[str, int]] | None = None,
        result: str | None = None,
        rejection: FileRejected | None = None,
        first_batch_id: str | None = None,
    ) -> Receipt:
        claimed = facts.claimed
        message = rejection.message if rejection else None
        if first_batch_id:
            message = f"this content was already answered by batch {first_batch_id}"
        return Receipt(
            batch_id=first_batch_id or claimed.batch_id,
            institution=claimed.institution,
            operation=claimed.operation.value,
            file=claimed.file_name,
            sha256=facts.sha256,
            bytes=facts.size,
            format=facts.file_format,
            dry_run=facts.dry_run,
            status=status,
            reason=rejection.reason if rejection else None,
            rows=rows,
            counts=counts or {},
            store_version=store_version(self.connection),
            received_at=claimed.received_at,
            finished_at=self.clock(),
            processor_version=__version__,
            message=message,
            result_file=result,
            duplicate_of=first_batch_id,
        )

    def _output_base(self, claimed: Claimed, stem: str) -> str:
        """``<name>``, or ``<name>.<batch_id>`` when that name was answered before."""
        outbox = self.settings.outbox / claimed.institution / claimed.operation.value
        taken = (outbox / f"{stem}.receipt.json").exists() or any(
            outbox.glob(f"{_glob(stem)}.result.*")
        )
        if taken or ledger.base_in_use(
            self.connection, institution=claimed.institution, operation=claimed.operation, base=stem
        ):
            return f"{stem}.{claimed.batch_id}"
        return stem

    def _deliver_fresh(
        self,
        claimed: Claimed,
        receipt: Receipt,
        result_name: str | None,
        *,
        stages: Stages | None = None,
    ) -> None:
        entry = ledger.find(self.connection, claimed.batch_id)
        assert entry is not None, "delivery follows the commit"
        self._drop_work_tables()  # before the work folder, and a staged file in it, go
        self._deliver(claimed, entry)
        log.info(
            "batch %s finished: %s, %d rows", claimed.batch_id, receipt.status.value, receipt.rows
        )
        if stages is not None and stages.seconds:
            log.info("batch %s stages: %s", claimed.batch_id, stages)

    def _deliver(self, claimed: Claimed, entry: ledger.Entry) -> None:
        """Idempotent: result, then receipt, then audit, archive, and the work folder goes."""
        work_dir = claimed.work_dir
        outbox = self.settings.outbox / claimed.institution / claimed.operation.value
        outbox.mkdir(parents=True, exist_ok=True)
        if entry.result_name:
            produced = work_dir / "result" / entry.result_name
            if produced.exists():
                move_atomic(produced, outbox / entry.result_name)
        receipt_path = outbox / f"{entry.output_base}.receipt.json"
        if not receipt_path.exists():
            write_atomic(receipt_path, entry.receipt_json.encode("utf-8"))
        audit = work_dir / "audit.parquet"
        if audit.exists():
            move_atomic(
                audit,
                self.settings.root
                / "audit"
                / f"{claimed.received_at:%Y-%m-%d}"
                / f"{claimed.batch_id}.parquet",
            )
        if claimed.input_path.exists():
            archive_input(claimed, self.settings)
        shutil.rmtree(work_dir)


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


@dataclass(frozen=True)
class _Facts:
    """What is known of a claimed file before it is answered."""

    claimed: Claimed
    sha256: str
    size: int
    file_format: str
    dry_run: bool
    output_base: str
    stages: Stages = field(default_factory=Stages)


@dataclass
class _Answered:
    """What the chunks of a lookup added up to: rows read and the receipt's counts."""

    result_name: str
    rows: int = 0
    counts: AnswerCounts = field(default_factory=AnswerCounts)


class _Duplicate(Exception):
    """The same content was already answered for this institution and operation."""

    def __init__(self, first_batch_id: str) -> None:
        super().__init__(first_batch_id)
        self.first_batch_id = first_batch_id


def _chunk_rows(request: RequestFile, rows: int) -> int:
    """``rows``, or fewer for a file of wide rows: at most ``CHUNK_BYTES`` of it a chunk."""
    return max(1, min(rows, CHUNK_BYTES // request.row_bytes))


def _glob(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def _clear_derived(work_dir: Path) -> None:
    """Everything but the claim and the input: an uncommitted attempt left nothing that counts."""
    for child in work_dir.iterdir():
        if child.name in ("claim.json", "input"):
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def _report(receipt: Receipt) -> FileReport:
    return FileReport(
        batch_id=receipt.batch_id,
        institution=receipt.institution,
        operation=receipt.operation,
        file=receipt.file,
        status=receipt.status,
        reason=receipt.reason,
        rows=receipt.rows,
        counts=receipt.counts,
    )
