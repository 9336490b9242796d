"""Status at a glance: the last batches from the ledger and what waits in the inbox."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from pipeline.config import Settings
from pipeline.intake import is_ignored
from pipeline.run import store_options
from pipeline.store import opened


@dataclass(frozen=True)
class Waiting:
    """A file in the inbox that no pass has taken yet."""

    institution: str
    operation: str
    file: str
    bytes: int
    modified: dt.datetime


def last_batches(settings: Settings, *, limit: int = 20) -> list[dict[str, Any]]:
    """Newest first: institution, operation, file, rows, counts, duration, result."""
    with opened(store_options(settings, read_only=True)) as connection:
        rows = connection.execute(
            """
            SELECT batch_id, institution, operation, file_name, rows, status, reason, dry_run,
                   received_at, finished_at,
                   epoch(finished_at) - epoch(received_at) AS seconds,
                   CAST(receipt AS VARCHAR)
            FROM batches ORDER BY received_at DESC, batch_id DESC LIMIT ?
            """,
            [limit],
        ).fetchall()
    batches = []
    for row in rows:
        receipt = json.loads(row[11])
        batches.append(
            {
                "batch_id": row[0],
                "institution": row[1],
                "operation": row[2],
                "file": row[3],
                "rows": row[4],
                "status": row[5],
                "reason": row[6],
                "dry_run": row[7],
                "received_at": row[8].isoformat(),
                "finished_at": row[9].isoformat(),
                "seconds": round(float(row[10]), 3),
                "counts": receipt.get("counts", {}),
            }
        )
    return batches


def waiting_files(settings: Settings) -> list[Waiting]:
    waiting = []
    for path in sorted(settings.inbox.glob("*/*/*")):
        if is_ignored(path.name) or not path.is_file():
            continue
        stat = path.stat()
        waiting.append(
            Waiting(
                institution=path.parent.parent.name,
                operation=path.parent.name,
                file=path.name,
                bytes=stat.st_size,
                modified=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
            )
        )
    return waiting
