"""File-system steps that must never leave a half-written file: atomic writes and moves."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

OUTPUT_MODE = 0o640  # results and receipts: the owner and its group, nobody else
_DIGEST_BLOCK = 8 << 20


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomic(path: Path, data: bytes, *, mode: int = OUTPUT_MODE) -> None:
    """Writes under a hidden temporary name, then renames: the file appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.chmod(mode)
    os.replace(temporary, path)
    fsync_dir(path.parent)


def move_atomic(source: Path, target: Path) -> None:
    """Moves a finished file; across file systems it is copied to a temporary name first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another file system
            raise
        temporary = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, temporary)
        fsync_file(temporary)
        os.replace(temporary, target)
        source.unlink()
    fsync_dir(target.parent)


def split_name(file_name: str) -> tuple[str, str]:
    """``name.csv.gz`` -> (``name``, ``csv.gz``); the stem keeps a ``.dry-run`` suffix."""
    lowered = file_name.lower()
    for extension in ("csv.gz", "csv", "parquet"):
        if lowered.endswith("." + extension) and len(file_name) > len(extension) + 1:
            return file_name[: -len(extension) - 1], file_name[-len(extension) :]
    stem, dot, extension = file_name.rpartition(".")
    return (stem, extension) if dot and stem else (file_name, "")


def is_dry_run(file_name: str) -> bool:
    stem, extension = split_name(file_name)
    return extension.lower() in ("csv", "csv.gz", "parquet") and stem.lower().endswith(".dry-run")


def file_digest(path: Path, *, stop: threading.Event | None = None) -> tuple[str, int]:
    """The SHA-256 (hex) and the size of a file. hashlib lets go of the GIL while it hashes a
    block, so a thread can hash a file while the main thread works: the blocks are large, so
    that the thread seldom has to wait for the GIL between them.

    ``stop``: once set, the hashing is given up (``InterruptedError``) at the next block, so
    that an interrupted pass does not wait for a large file to be read to its end.
    """
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while block := handle.read(_DIGEST_BLOCK):
            if stop is not None and stop.is_set():
                raise InterruptedError(f"hashing {path.name} was given up")
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size
