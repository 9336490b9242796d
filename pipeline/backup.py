"""Backups: a consistent copy of the store, taken while no batch runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline.config import Settings
from pipeline.files import fsync_file
from pipeline.lock import ProcessorLock
from pipeline.run import store_options
from pipeline.store import opened


def backup_store(settings: Settings, destination: Path) -> Path:
    """Checkpoints the store under the processor lock, then copies it whole to ``destination``.

    Holding the lock means no pass or watch loop can start a batch meanwhile; if one is running,
    the lock refuses (ProcessorBusy) instead of copying a store in the middle of a transaction.
    """
    target = destination / settings.store.name if destination.is_dir() else destination
    with ProcessorLock(settings.work):
        with opened(store_options(settings)) as connection:
            connection.execute("CHECKPOINT")
        temporary = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(settings.store, temporary)
        fsync_file(temporary)
        temporary.replace(target)
    return target
