"""Receipts: the file-level answer to every request file, as JSON in the outbox."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass

from pipeline.contract import FileReason, ReceiptStatus


@dataclass(frozen=True)
class Receipt:
    """``<name>.receipt.json``: the fields of DESIGN.md, in its order, and a few extras after."""

    batch_id: str
    institution: str
    operation: str
    file: str
    sha256: str
    bytes: int
    format: str
    dry_run: bool
    status: ReceiptStatus
    reason: FileReason | None
    rows: int
    counts: dict[str, dict[str, int]]
    store_version: int
    received_at: dt.datetime
    finished_at: dt.datetime
    processor_version: str
    message: str | None = None
    result_file: str | None = None
    duplicate_of: str | None = None

    def to_json(self) -> str:
        document = asdict(self)
        document["status"] = self.status.value
        document["reason"] = self.reason.value if self.reason else None
        document["received_at"] = _timestamp(self.received_at)
        document["finished_at"] = _timestamp(self.finished_at)
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
