"""LinkRegister: the batch processor of the Belgian link register."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("linkregister")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
