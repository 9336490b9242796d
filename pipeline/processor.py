"""The processor: recovers the work area, then answers every claimed file, stage after stage."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import duckdb

from pipeline import __version__, ledger, result_of, utc_now
from pipeline.chunks import (
    Answered,
    Consultation,
    OnChunk,
    Stages,
    answer_lookup,
    chunk_rows,
    stage_request,
)
from pipeline.config import Settings
from pipeline.contract import FileReason, FileRejected, Operation, ReceiptStatus
from pipeline.delivery import clear_derived, deliver, output_base_for
from pipeline.files import file_digest, is_dry_run, split_name
from pipeline.intake import Claimed, quarantine_work_dir, read_claim
from pipeline.operations.answer import (
    answer_request,
    apply_changes,
    drop_work_tables,
    result_columns,
)
from pipeline.operations.lookups import LOOKUPS
from pipeline.reading import RequestFile, open_request
from pipeline.receipts import Receipt
from pipeline.results import write_result
from pipeline.store import store_version
from pipeline.validation import Rules

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
# Called after each validated chunk: (batch id, file name, file size in bytes, rows so far).
ProgressHook = Callable[[str, str, int, int], None]

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
                deliver(self.settings, claimed, entry)
            else:
                log.info("recovery: processing batch %s again from scratch", claimed.batch_id)
                clear_derived(work_dir)
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
            output_base=output_base_for(self.settings, self.connection, claimed, stem),
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
                answered = self._answer_lookup(facts, request)
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
        """Validates the request into DuckDB chunk after chunk (``stage_request``)."""
        claimed = facts.claimed
        return stage_request(
            self.connection,
            request,
            operation=claimed.operation,
            rules=self.rules,
            work_dir=claimed.work_dir,
            stages=facts.stages,
            on_chunk=self._on_chunk(facts),
        )

    def _answer_lookup(self, facts: _Facts, request: RequestFile) -> Answered:
        """Answers a lookup chunk after chunk into its result and audit in the work folder
        (``answer_lookup``)."""
        claimed = facts.claimed
        return answer_lookup(
            self.connection,
            request,
            operation=claimed.operation,
            rules=self.rules,
            result_path=claimed.result_path(facts.result_name),
            file_format=facts.file_format,
            audit_path=claimed.audit_path,
            consultation=Consultation(
                batch_id=claimed.batch_id, institution=claimed.institution, at=self.clock()
            ),
            stages=facts.stages,
            on_chunk=self._on_chunk(facts),
        )

    def _on_chunk(self, facts: _Facts) -> OnChunk | None:
        """The progress hook, for the chunks of this file."""
        progress = self.progress
        if progress is None:
            return None
        claimed = facts.claimed
        return lambda rows: progress(claimed.batch_id, claimed.file_name, facts.size, rows)

    def _commit_lookups(self, facts: _Facts, answered: Answered) -> FileReport:
        """A lookup changes nothing: its commit is the ledger entry alone."""
        receipt = self._receipt(
            facts,
            ReceiptStatus.ACCEPTED,
            rows=answered.rows,
            counts=answered.counts.as_dict(),
            result=facts.result_name,
        )
        return self._record_and_deliver(facts, receipt, facts.result_name)

    def _commit_answer(self, facts: _Facts, request: RequestFile, rows: int) -> FileReport:
        claimed = facts.claimed
        result_name = facts.result_name
        now = self.clock()
        connection = self.connection
        try:
            connection.execute("BEGIN TRANSACTION")
            try:
                with facts.stages.timing("answer"):
                    ordering = answer_request(
                        connection, operation=claimed.operation, rules=self.rules
                    )
                with facts.stages.timing("write"):
                    counts = write_result(
                        connection,
                        path=claimed.result_path(result_name),
                        file_format=facts.file_format,
                        delimiter=request.delimiter,
                        columns=result_columns(claimed.operation),
                        rows=None if claimed.operation is Operation.FORMATS else rows,
                        range_rows=chunk_rows(request),
                        ordering=ordering,
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
        deliver(self.settings, claimed, entry)
        log.info(
            "batch %s finished: %s, %d rows", claimed.batch_id, receipt.status.value, receipt.rows
        )
        if stages is not None and stages.seconds:
            log.info("batch %s stages: %s", claimed.batch_id, stages)


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

    @property
    def result_name(self) -> str:
        return f"{self.output_base}.result.{self.file_format}"


class _Duplicate(Exception):
    """The same content was already answered for this institution and operation."""

    def __init__(self, first_batch_id: str) -> None:
        super().__init__(first_batch_id)
        self.first_batch_id = first_batch_id


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
