"""Delivery: a committed batch's result, receipt and audit put in place, its input archived.

Every step can be repeated: a processor that dies half-way through delivers the rest on
restart (``Processor.recover``), and nothing appears twice.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from pipeline import ledger
from pipeline.config import Settings
from pipeline.files import move_atomic, write_atomic
from pipeline.intake import CLAIM_FILE, INPUT_FOLDER, Claimed, archive_input


def output_base_for(
    settings: Settings, connection: duckdb.DuckDBPyConnection, claimed: Claimed, stem: str
) -> str:
    """``<name>``, or ``<name>.<batch_id>`` when that name was answered before."""
    outbox = settings.outbox / claimed.institution / claimed.operation.value
    taken = (outbox / f"{stem}.receipt.json").exists() or any(
        outbox.glob(f"{_glob(stem)}.result.*")
    )
    if taken or ledger.base_in_use(
        connection, institution=claimed.institution, operation=claimed.operation, base=stem
    ):
        return f"{stem}.{claimed.batch_id}"
    return stem


def deliver(settings: Settings, claimed: Claimed, entry: ledger.Entry) -> None:
    """Idempotent: result, then receipt, then audit, archive, and the work folder goes."""
    work_dir = claimed.work_dir
    outbox = settings.outbox / claimed.institution / claimed.operation.value
    outbox.mkdir(parents=True, exist_ok=True)
    if entry.result_name:
        produced = claimed.result_path(entry.result_name)
        if produced.exists():
            move_atomic(produced, outbox / entry.result_name)
    receipt_path = outbox / f"{entry.output_base}.receipt.json"
    if not receipt_path.exists():
        write_atomic(receipt_path, entry.receipt_json.encode("utf-8"))
    if claimed.audit_path.exists():
        move_atomic(
            claimed.audit_path,
            settings.root
            / "audit"
            / f"{claimed.received_at:%Y-%m-%d}"
            / f"{claimed.batch_id}.parquet",
        )
    if claimed.input_path.exists():
        archive_input(claimed, settings)
    shutil.rmtree(work_dir)


def clear_derived(work_dir: Path) -> None:
    """Everything but the claim and the input: an uncommitted attempt left nothing that counts."""
    for child in work_dir.iterdir():
        if child.name in (CLAIM_FILE, INPUT_FOLDER):
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def _glob(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)
