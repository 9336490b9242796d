"""Runs the processor over a root: one pass over the inbox, or a watch loop."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import logging
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from pipeline import utc_now
from pipeline.config import Settings
from pipeline.files import file_digest
from pipeline.intake import SettleTracker, claim, scan_inbox
from pipeline.lock import ProcessorLock
from pipeline.store import StoreOptions, opened

# The processor (validation, readers, writers) and the rules are imported and loaded when a
# pass first has a file to answer: a pass over an empty inbox, run by cron every minute, only
# opens the store and looks at the folders.
if TYPE_CHECKING:
    import duckdb

    from pipeline.processor import FileReport, Processor, ProgressHook
    from pipeline.validation import Rules

log = logging.getLogger(__name__)


def load_rules(settings: Settings, *, today: dt.date) -> Rules:
    """The catalogue and aliases as they are now on disk: a data change takes effect next run."""
    from pipeline.validation import Rules
    from schemas.countries import load_country_aliases
    from schemas.formats import load_catalogue

    return Rules(
        reference_date=today,
        catalogue=load_catalogue(
            formats_path=settings.formats_file, key_types_path=settings.key_types_file
        ),
        country_aliases=load_country_aliases(settings.country_aliases_file),
    )


def store_options(settings: Settings, *, read_only: bool = False) -> StoreOptions:
    return StoreOptions(
        path=settings.store,
        memory_limit=settings.memory_limit,
        temp_directory=settings.temp_directory,
        read_only=read_only,
    )


def process_inbox(
    settings: Settings,
    *,
    settle_seconds: float | None = None,
    dry_run: bool = False,
    clock: Callable[[], dt.datetime] = utc_now,
    progress: ProgressHook | None = None,
) -> list[FileReport]:
    """One pass: recover the work area, wait for files to settle, answer each complete file."""
    settle = settings.settle_seconds if settle_seconds is None else settle_seconds
    today = dt.date.today()
    with ProcessorLock(settings.work), opened(store_options(settings)) as connection:

        @functools.cache
        def processor() -> Processor:  # built when a file first needs it
            return _new_processor(
                settings, connection, today=today, dry_run=dry_run, clock=clock, progress=progress
            )

        reports = processor().recover() if _interrupted_work(settings) else []
        tracker = SettleTracker(settle)
        ready = tracker.ready(scan_inbox(settings, now=clock()), monotonic=time.monotonic())
        if settle > 0:
            time.sleep(settle)
            ready = tracker.ready(scan_inbox(settings, now=clock()), monotonic=time.monotonic())
        # A claimed file is hashed in a thread while the processor is built (its modules are
        # imported when the first file needs it): 0.1-0.3 s for a CSV file of 100 MB. A pass
        # that stops on an error (or Ctrl-C) gives an unfinished hash up instead of waiting.
        given_up = threading.Event()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest") as hasher:
            try:
                for drop in ready:
                    claimed = claim(drop, settings, now=clock())
                    if claimed is not None:
                        digest = hasher.submit(file_digest, claimed.input_path, stop=given_up)
                        reports.append(processor().process(claimed, digest=digest))
            finally:
                given_up.set()
        prune_audit(settings, today=clock().date())
        return reports


def _new_processor(
    settings: Settings,
    connection: duckdb.DuckDBPyConnection,
    *,
    today: dt.date,
    dry_run: bool = False,
    clock: Callable[[], dt.datetime],
    progress: ProgressHook | None,
) -> Processor:
    """A processor over the open store, with the rules as they are on disk now."""
    with _importing():
        from pipeline.processor import Processor

        rules = load_rules(settings, today=today)
    return Processor(settings, connection, rules, dry_run=dry_run, clock=clock, progress=progress)


@contextlib.contextmanager
def _importing() -> Iterator[None]:
    """Imports the processor's modules (polars, pandera with pydantic, pyarrow) without Python's
    cyclic garbage collector, then freezes what they made (``gc.freeze``): it lives as long as
    the process, and every later collection would go through it again. A 1M-row lookup spent
    33-39 ms in 111 collections, most of them during these imports; 3-4 ms in 18 now.

    Only for the first processor of a process: once imported, the modules are not made again,
    and what a process (a watch, a test run) holds by then is not frozen with them."""
    if "pipeline.processor" in sys.modules:
        yield
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _interrupted_work(settings: Settings) -> bool:
    """Claimed files that a crash left in the work area (``Processor.recover`` finishes them)."""
    return settings.work.is_dir() and any(path.is_dir() for path in settings.work.iterdir())


def prune_audit(settings: Settings, *, today: dt.date) -> int:
    """Removes the consultation audit days older than ``audit_retention_days``."""
    oldest = today - dt.timedelta(days=settings.audit_retention_days)
    removed = 0
    audit = settings.root / "audit"
    for folder in sorted(audit.glob("????-??-??")) if audit.is_dir() else []:
        try:
            day = dt.date.fromisoformat(folder.name)
        except ValueError:
            continue
        if day < oldest:
            shutil.rmtree(folder)
            removed += 1
            log.info("audit retention: removed %s", folder.name)
    return removed


def watch_inbox(
    settings: Settings,
    *,
    stop: threading.Event,
    clock: Callable[[], dt.datetime] = utc_now,
    on_report: Callable[[FileReport], None] = lambda report: None,
    progress: ProgressHook | None = None,
) -> None:
    """Polls until ``stop`` is set; a stop request lets the file in hand finish first."""
    with ProcessorLock(settings.work), opened(store_options(settings)) as connection:
        tracker = SettleTracker(settings.settle_seconds)
        today = dt.date.today()
        processor = _new_processor(
            settings, connection, today=today, clock=clock, progress=progress
        )
        for report in processor.recover():
            on_report(report)
        log.info("watching %s every %.1f s", settings.inbox, settings.poll_seconds)
        while not stop.is_set():
            if dt.date.today() != today:  # a new day: new reference date, fresh catalogue
                today = dt.date.today()
                processor.rules = load_rules(settings, today=today)
            ready = tracker.ready(scan_inbox(settings, now=clock()), monotonic=time.monotonic())
            for drop in ready:
                if stop.is_set():
                    break
                claimed = claim(drop, settings, now=clock())
                if claimed is not None:
                    on_report(processor.process(claimed))
            stop.wait(settings.poll_seconds)
        log.info("watch stopped")
