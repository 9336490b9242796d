"""LinkRegister: the batch processor of the Belgian link register."""

from __future__ import annotations

import datetime as dt
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from importlib.metadata import PackageNotFoundError, version
from typing import TypeVar

try:
    __version__ = version("linkregister")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

T = TypeVar("T")


def utc_now() -> dt.datetime:
    """The clock of the processor and the tools, where a test does not give its own."""
    return dt.datetime.now(dt.UTC)


def wait_for_all(futures: list[Future[None]]) -> None:
    """Waits for the work handed to threads; the first error is raised once all have ended, so
    no thread still writes to a file that the error is about to remove."""
    _wait_awake(futures)
    for future in futures:
        future.result()


def result_of(future: Future[T]) -> T:
    """``future.result()``, waited for as ``wait_for_all`` waits."""
    _wait_awake([future])
    return future.result()


def _wait_awake(futures: list[Future[T]]) -> None:
    """Waits in steps of 0.1 s. A signal (Ctrl-C) is delivered to any thread of the process;
    the main thread acts on it only when it runs Python again, which one long wait would delay
    until the threads' work is done (a whole file hashed, a chunk written)."""
    while wait(futures, timeout=0.1).not_done:
        pass


def read_ahead(items: Generator[T]) -> Generator[T]:
    """``items``, each taken from them in a thread while the caller works on the one before:
    reading a request's next chunk (pyarrow, polars) then overlaps validating and joining this
    one, all mostly outside the GIL. One item is read ahead; an item handed out is not kept
    (the caller may free it). An error that ``items`` raise is raised here, where their item
    would have come.

    Close it (``contextlib.closing``) to stop early: it waits for the item being taken, then
    closes ``items`` (their files) in the caller's thread, once the reader thread has ended.
    """
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read") as reader:
            pending = reader.submit(next, items)

            def take() -> T:
                """The item read ahead, once the next one is on its way."""
                nonlocal pending
                item = result_of(pending)
                pending = reader.submit(next, items)
                return item

            while True:
                try:
                    yield take()  # not bound to a name here: this frame keeps no item
                except StopIteration:
                    return
    finally:
        items.close()
