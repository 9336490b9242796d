"""LinkRegister: the batch processor of the Belgian link register."""

import datetime as dt
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("linkregister")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"


def utc_now() -> dt.datetime:
    """The clock of the processor and the tools, where a test does not give its own."""
    return dt.datetime.now(dt.UTC)
