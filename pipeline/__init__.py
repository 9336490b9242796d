"""LinkRegister: the batch processor of the Belgian link register."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import Future, wait
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("linkregister")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"


def utc_now() -> dt.datetime:
    """The clock of the processor and the tools, where a test does not give its own."""
    return dt.datetime.now(dt.UTC)


def wait_for_all(futures: list[Future[None]]) -> None:
    """Waits for the work handed to threads; the first error is raised once all have ended, so
    no thread still writes to a file that the error is about to remove."""
    wait(futures)
    for future in futures:
        future.result()
