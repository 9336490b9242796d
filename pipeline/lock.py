"""One processor per root: an advisory lock file in the work area."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType


class ProcessorBusy(Exception):
    """Another linkreg process already works on this root."""


class ProcessorLock:
    """Held for as long as a pass or a watch loop runs; the kernel frees it if the process dies."""

    def __init__(self, work_dir: Path) -> None:
        self.path = work_dir / ".lock"
        self._descriptor: int | None = None

    def __enter__(self) -> ProcessorLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 32).decode(errors="replace").strip() or "?"
            os.close(descriptor)
            raise ProcessorBusy(
                f"another linkreg process (pid {holder}) is already working on this root;"
                " wait for it to finish or stop it first"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, str(os.getpid()).encode())
        self._descriptor = descriptor
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._descriptor is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            os.close(self._descriptor)
            self._descriptor = None
