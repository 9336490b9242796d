"""The batch ledger: one row per request file, committed with the file's changes."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipeline.contract import Operation, ReceiptStatus
from pipeline.receipts import Receipt


@dataclass(frozen=True)
class Entry:
    """What recovery and duplicate detection need from a ledger row."""

    batch_id: str
    output_base: str
    result_name: str | None
    receipt_json: str
    rows: int


def find(connection: duckdb.DuckDBPyConnection, batch_id: str) -> Entry | None:
    row = connection.execute(
        "SELECT batch_id, output_base, result_name, CAST(receipt AS VARCHAR), rows"
        " FROM batches WHERE batch_id = ?",
        [batch_id],
    ).fetchone()
    return Entry(*row) if row else None


def first_accepted(
    connection: duckdb.DuckDBPyConnection, *, institution: str, operation: Operation, sha256: str
) -> str | None:
    """The batch that already answered this content, if any (dry runs never count)."""
    row = connection.execute(
        "SELECT batch_id FROM batches WHERE institution = ? AND operation = ? AND sha256 = ?"
        " AND status = ? AND NOT dry_run ORDER BY received_at LIMIT 1",
        [institution, operation.value, sha256, ReceiptStatus.ACCEPTED.value],
    ).fetchone()
    return str(row[0]) if row else None


def base_in_use(
    connection: duckdb.DuckDBPyConnection, *, institution: str, operation: Operation, base: str
) -> bool:
    row = connection.execute(
        "SELECT count(*) FROM batches WHERE institution = ? AND operation = ? AND output_base = ?",
        [institution, operation.value, base],
    ).fetchone()
    return bool(row and row[0])


def record(
    connection: duckdb.DuckDBPyConnection,
    *,
    receipt: Receipt,
    ledger_id: str,
    output_base: str,
    result_name: str | None,
) -> None:
    """Inserts the ledger row; the caller owns the transaction."""
    connection.execute(
        """
        INSERT INTO batches (batch_id, institution, operation, file_name, sha256, bytes, format,
            dry_run, status, reason, rows, store_version, received_at, finished_at,
            processor_version, output_base, result_name, receipt)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            ledger_id,
            receipt.institution,
            receipt.operation,
            receipt.file,
            receipt.sha256,
            receipt.bytes,
            receipt.format,
            receipt.dry_run,
            receipt.status.value,
            receipt.reason.value if receipt.reason else None,
            receipt.rows,
            receipt.store_version,
            receipt.received_at,
            receipt.finished_at,
            receipt.processor_version,
            output_base,
            result_name,
            receipt.to_json(),
        ],
    )
