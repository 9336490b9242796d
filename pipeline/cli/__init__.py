"""The ``linkreg`` command: parses options, calls the library, maps errors to exit codes.

The administrator's commands are in ``pipeline.cli.admin``; what every command shares (the
``--root`` option, errors as exit codes) in ``pipeline.cli.options``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from pipeline import __version__
from pipeline.cli.admin import admin
from pipeline.cli.options import failures_to_exit_codes, root_option, settings_for
from pipeline.config import load_settings, resolve_root
from pipeline.logs import configure
from pipeline.terminal import print_frame, print_reports, print_status, terminal_progress

# Each command imports what it needs inside its body: `process` on an empty inbox, run by cron
# every minute, then never loads validation, the readers, the administration tools or rich.


@click.group()
@click.version_option(__version__, prog_name="linkreg")
@click.option("-v", "--verbose", is_flag=True, help="Log debug events too.")
def main(verbose: bool) -> None:
    """LinkRegister: answers and applies the request files that institutions drop in the inbox."""
    configure(verbose=verbose)


main.add_command(admin)


@main.command()
@root_option
@failures_to_exit_codes
def init(root: Path | None) -> None:
    """Write linkreg.toml and the folders, and create the store."""
    from pipeline.setup import init_root

    created = init_root(resolve_root(root, dict(os.environ)))
    click.echo(f"root ready: {created.root} (store {created.store})")


@main.command()
@root_option
@click.option(
    "--settle",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds a file must stay unchanged before it is taken (default: linkreg.toml).",
)
@click.option("--dry-run", is_flag=True, help="Answer mutation files without applying anything.")
@failures_to_exit_codes
def process(root: Path | None, settle: float | None, dry_run: bool) -> None:
    """One pass over the inbox: every complete file gets its receipt."""
    from pipeline.run import process_inbox

    with terminal_progress() as progress:
        reports = process_inbox(
            settings_for(root), settle_seconds=settle, dry_run=dry_run, progress=progress
        )
    if reports:
        print_reports(reports)
    else:
        click.echo("nothing to process", err=True)


@main.command()
@root_option
@failures_to_exit_codes
def watch(root: Path | None) -> None:
    """Process files as they become complete, until SIGTERM or SIGINT (which finish the file)."""
    from pipeline.run import watch_inbox

    settings = settings_for(root)
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    with terminal_progress() as progress:
        watch_inbox(settings, stop=stop, progress=progress)


@main.command()
@root_option
@click.option(
    "--links",
    type=click.IntRange(min=100),
    default=30_000,
    show_default=True,
    help="How many synthetic links the demo store gets.",
)
@failures_to_exit_codes
def demo(root: Path | None, links: int) -> None:
    """Build a demo root (synthetic store, sample drops), process it, and summarise."""
    from pipeline.demo import build_demo

    reports = build_demo(resolve_root(root, dict(os.environ)), links=links)
    print_reports(reports)


@main.command(name="lookup")
@root_option
@click.option("--insz", help="The INSZ whose links to show.")
@click.option("--country", help="The country of the key (or a filter with --insz).")
@click.option("--key", "foreign_key", help="The foreign key to look up (with --country).")
@click.option("--key-type", help="Only links of this key type.")
@click.option("--as-of", help="Links valid on this date (YYYY-MM-DD); default today.")
@click.option(
    "--recorded-at", help="As the register knew it at this moment (ISO 8601, Z or offset)."
)
@failures_to_exit_codes
def lookup_command(
    root: Path | None,
    insz: str | None,
    country: str | None,
    foreign_key: str | None,
    key_type: str | None,
    as_of: str | None,
    recorded_at: str | None,
) -> None:
    """Show the links of one INSZ, or the INSZ of one foreign key."""
    from pipeline.consult import LookupQuery, lookup

    if (insz is None) == (foreign_key is None):
        raise click.UsageError("give either --insz, or --country with --key")
    if foreign_key is not None and country is None:
        raise click.UsageError("--key needs --country")
    query = LookupQuery(
        insz=insz,
        country=country,
        foreign_key=foreign_key,
        key_type=key_type,
        as_of=as_of,
        recorded_at=recorded_at,
    )
    print_frame(lookup(settings_for(root), query).drop("row", "ref"), title="lookup")


@main.command(name="formats")
@root_option
@click.option("--country", help="Only the rules that apply to this country.")
@click.option("--key-type", help="Only the rules for this key type.")
@failures_to_exit_codes
def formats_command(root: Path | None, country: str | None, key_type: str | None) -> None:
    """Print the allowed key formats per country (the format catalogue)."""
    from pipeline.catalogue_view import formats_table

    root_path = resolve_root(root, dict(os.environ))
    settings = load_settings(root_path) if (root_path / "linkreg.toml").exists() else None
    version, frame = formats_table(settings, country=country, key_type=key_type)
    columns = ("country", "key_type", "rule_id", "description", "example")
    print_frame(frame.select(*columns), title=f"key formats (catalogue {version})")


@main.command()
@root_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")
@failures_to_exit_codes
def status(root: Path | None, limit: int, as_json: bool) -> None:
    """The last batches and the files waiting in the inbox."""
    import json
    from dataclasses import asdict

    from pipeline.status import last_batches, waiting_files

    settings = settings_for(root)
    batches = last_batches(settings, limit=limit)
    waiting = waiting_files(settings)
    if as_json:
        document = {
            "batches": batches,
            "waiting": [asdict(w) | {"modified": w.modified.isoformat()} for w in waiting],
        }
        click.echo(json.dumps(document, indent=2))
        return
    print_status(batches, waiting)


@main.command()
@root_option
@click.option("--insz", help="The person whose trail to show.")
@click.option("--country", help="With --key: the key whose trail to show.")
@click.option("--key", "foreign_key")
@click.option("--since", type=click.DateTime(), help="From this date or moment (UTC).")
@click.option("--until", type=click.DateTime(), help="Before this date or moment (UTC).")
@click.option("--csv", "as_csv", is_flag=True, help="CSV on standard output instead of a table.")
@failures_to_exit_codes
def audit(
    root: Path | None,
    insz: str | None,
    country: str | None,
    foreign_key: str | None,
    since: Any,
    until: Any,
    as_csv: bool,
) -> None:
    """Who consulted or changed the links of one INSZ or one key, newest first."""
    import datetime as dt

    from pipeline.audit import AuditQuery, audit_trail

    if (insz is None) == (foreign_key is None) or (foreign_key is not None and country is None):
        raise click.UsageError("give either --insz, or --country with --key")

    def utc(moment):
        return moment.replace(tzinfo=dt.UTC) if moment else None

    query = AuditQuery(
        insz=insz, country=country, foreign_key=foreign_key, since=utc(since), until=utc(until)
    )
    trail = audit_trail(settings_for(root), query)
    if as_csv:
        click.echo(trail.write_csv(), nl=False)
        return
    print_frame(trail, title="audit trail")


@main.command()
@root_option
@click.argument("destination", type=click.Path(path_type=Path))
@failures_to_exit_codes
def backup(root: Path | None, destination: Path) -> None:
    """Copy the store consistently to DESTINATION (refused while a batch is running)."""
    from pipeline.backup import backup_store

    target = backup_store(settings_for(root), destination)
    click.echo(f"store copied to {target}")


@main.command(name="report-day")
@root_option
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The day (UTC) to report; default today.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the page here instead of standard output.",
)
@failures_to_exit_codes
def report_day(root: Path | None, day: Any, out: Path | None) -> None:
    """A self-contained HTML page of a day's batches and the last 30 days' volumes."""
    import datetime as dt

    from pipeline.files import write_atomic
    from pipeline.report import day_report

    page = day_report(settings_for(root), day.date() if day else dt.datetime.now(dt.UTC).date())
    if out is None:
        click.echo(page, nl=False)
    else:
        write_atomic(out, page.encode("utf-8"))


def run() -> None:
    """The console script: ``main``, then a quick exit once everything is flushed.

    When ``main`` returns, every command has closed what it opened: the store (checkpointed),
    the result and receipt files (synced), its threads. What is left is the interpreter's own
    teardown, which frees every module of polars, pyarrow, DuckDB and pandera one by one: 0.2 to
    0.4 s, at the end of every ``linkreg process`` run by cron. That is skipped; an exception
    that escaped ``main`` still ends the normal way, with its traceback.
    """
    try:
        main()
    except SystemExit as leaving:
        code = leaving.code
    else:
        code = 0
    if not isinstance(code, int):  # sys.exit("message") prints it and exits 1
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # a closed pipe (`linkreg ... | head`) takes no more
            stream.flush()
    os._exit(code)
