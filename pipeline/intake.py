"""Intake: finds complete files in the inbox, sets strays aside, claims the rest."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.batch import new_batch_id
from pipeline.config import Settings
from pipeline.contract import Operation
from pipeline.files import fsync_dir, move_atomic, write_atomic

log = logging.getLogger(__name__)

IGNORED_SUFFIXES = (".part", ".tmp", ".filepart", ".partial", "~")
CLAIM_FILE = "claim.json"
INPUT_FOLDER = "input"
MARKER_SUFFIX = ".done"


@dataclass(frozen=True)
class Drop:
    """A file in an operation folder of a known institution."""

    path: Path
    institution: str
    operation: Operation
    marked: bool = False  # its `.done` marker is there: complete by the sender's word


def is_ignored(name: str) -> bool:
    """Files still being written by convention: hidden, or with a temporary suffix."""
    return name.startswith(".") or name.endswith(IGNORED_SUFFIXES)


def scan_inbox(settings: Settings, *, now: dt.datetime) -> list[Drop]:
    """Every candidate drop, oldest folder first; strays are moved to the quarantine."""
    drops: list[Drop] = []
    if not settings.inbox.is_dir():
        return drops
    for institution_dir in sorted(settings.inbox.iterdir()):
        if is_ignored(institution_dir.name):
            continue
        if institution_dir.is_symlink() or not institution_dir.is_dir():
            _set_aside(institution_dir, settings, now=now, why="not an institution folder")
            continue
        known = institution_dir.name in settings.institutions
        for operation_dir in sorted(institution_dir.iterdir()):
            if is_ignored(operation_dir.name):
                continue
            operation = _operation(operation_dir.name)
            if operation_dir.is_symlink() or not operation_dir.is_dir() or operation is None:
                _set_aside(operation_dir, settings, now=now, why="not an operation folder")
                continue
            drops.extend(_folder_drops(operation_dir, operation, settings, known=known, now=now))
    return drops


def _folder_drops(
    folder: Path, operation: Operation, settings: Settings, *, known: bool, now: dt.datetime
) -> list[Drop]:
    """The candidate files of one ``inbox/<institution>/<operation>/`` folder."""
    institution = folder.parent.name
    uses_markers = known and settings.institutions[institution].marker
    drops = []
    for path in sorted(folder.iterdir()):
        if is_ignored(path.name):
            continue
        if not known:
            _set_aside(path, settings, now=now, why="institution not in linkreg.toml")
        elif path.is_symlink() or not path.is_file():
            _set_aside(path, settings, now=now, why="not a regular file (symlink?)")
        elif not uses_markers:
            drops.append(Drop(path, institution, operation))
        elif not path.name.endswith(MARKER_SUFFIX) and _marker(path).is_file():
            drops.append(Drop(path, institution, operation, marked=True))
    return drops


def _marker(path: Path) -> Path:
    return path.with_name(path.name + MARKER_SUFFIX)


def _operation(name: str) -> Operation | None:
    try:
        return Operation(name)
    except ValueError:
        return None


def _set_aside(path: Path, settings: Settings, *, now: dt.datetime, why: str) -> None:
    """Never processed, never deleted: moved under quarantine/ with the inbox path kept."""
    relative = path.relative_to(settings.inbox)
    # A folder per event (time and a random suffix): two strays of one path never meet.
    target = settings.quarantine / f"{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    os.rename(path, target)  # a symlink is moved as the link itself, never followed
    log.warning("set aside %s: %s (now in %s)", relative, why, target.relative_to(settings.root))


class SettleTracker:
    """Decides when a file is complete: its size and mtime stayed unchanged, as we observed them.

    The clock starts when this process first sees a signature, not at the file's mtime, so a file
    copied with an old modification time still waits ``settle_seconds``.
    """

    def __init__(self, settle_seconds: float) -> None:
        self.settle_seconds = settle_seconds
        self._seen: dict[Path, tuple[tuple[int, int, int], float]] = {}

    def ready(self, drops: list[Drop], *, monotonic: float) -> list[Drop]:
        complete = []
        current: dict[Path, tuple[tuple[int, int, int], float]] = {}
        for drop in drops:
            try:
                stat = drop.path.stat()
            except FileNotFoundError:
                continue
            signature = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
            previous = self._seen.get(drop.path)
            since = previous[1] if previous and previous[0] == signature else monotonic
            current[drop.path] = (signature, since)
            if drop.marked or monotonic - since >= self.settle_seconds:
                complete.append(drop)
        self._seen = current
        return complete


@dataclass(frozen=True)
class Claimed:
    """A drop moved into the work area: from here on, state lives in folders and the ledger."""

    batch_id: str
    institution: str
    operation: Operation
    file_name: str
    input_path: Path
    received_at: dt.datetime

    @property
    def work_dir(self) -> Path:
        """``work/<batch_id>/``: the claim, the input (in ``input/``) and what is made of it."""
        return self.input_path.parent.parent

    def result_path(self, name: str) -> Path:
        """Where the result called ``name`` is written, until it is delivered."""
        return self.work_dir / "result" / name

    @property
    def audit_path(self) -> Path:
        """Where a lookup's consultation audit is written, until it is delivered."""
        return self.work_dir / "audit.parquet"


def claim(
    drop: Drop, settings: Settings, *, now: dt.datetime, name: str | None = None
) -> Claimed | None:
    """Moves the drop atomically into ``work/<batch_id>/``; None if it vanished meanwhile."""
    file_name = name or drop.path.name
    batch_id = new_batch_id(now)
    work_dir = settings.work / batch_id
    work_dir.mkdir(parents=True)
    record = {
        "institution": drop.institution,
        "operation": drop.operation.value,
        "file": file_name,
        "received_at": now.isoformat(),
    }
    write_atomic(work_dir / CLAIM_FILE, json.dumps(record).encode(), mode=0o600)
    input_dir = work_dir / INPUT_FOLDER
    input_dir.mkdir()
    target = input_dir / file_name
    try:
        os.rename(drop.path, target)
    except FileNotFoundError:
        (work_dir / CLAIM_FILE).unlink()
        input_dir.rmdir()
        work_dir.rmdir()
        return None
    if drop.marked:  # consumed with its file; a later file of the same name needs a new one
        _marker(drop.path).unlink(missing_ok=True)
    fsync_dir(input_dir)
    fsync_dir(drop.path.parent)
    return Claimed(batch_id, drop.institution, drop.operation, file_name, target, now)


def read_claim(work_dir: Path) -> Claimed | None:
    """The claim recorded in a work folder; None when the file never arrived there."""
    try:
        record = json.loads((work_dir / CLAIM_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    target = work_dir / INPUT_FOLDER / record["file"]
    if not target.exists():
        return None
    return Claimed(
        batch_id=work_dir.name,
        institution=record["institution"],
        operation=Operation(record["operation"]),
        file_name=record["file"],
        input_path=target,
        received_at=dt.datetime.fromisoformat(record["received_at"]),
    )


def archive_input(claimed: Claimed, settings: Settings) -> Path:
    """``archive/<institution>/<date>/<batch_id>/<name>``: kept forever, never overwritten."""
    target = (
        settings.archive
        / claimed.institution
        / f"{claimed.received_at:%Y-%m-%d}"
        / claimed.batch_id
        / claimed.file_name
    )
    move_atomic(claimed.input_path, target)
    return target


def quarantine_work_dir(work_dir: Path, settings: Settings) -> None:
    """A work folder without a readable claim: keep whatever input it holds, drop the rest."""
    inputs = work_dir / INPUT_FOLDER
    if inputs.is_dir():
        for path in inputs.iterdir():
            move_atomic(path, settings.quarantine / "work" / work_dir.name / path.name)
            log.warning("recovery: unclaimed file of %s set aside in quarantine", work_dir.name)
    shutil.rmtree(work_dir)
