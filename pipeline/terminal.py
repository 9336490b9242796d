"""What the commands show on a terminal: tables, the summary of a pass, a progress bar.

On a terminal, rich draws them; elsewhere (a pipe, a file, cron's mail, the journal) they are
plain lines that ``cut`` and ``awk`` read, and ``process`` never imports rich (20-35 ms).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    from pipeline.processor import FileReport, ProgressHook
    from pipeline.status import Waiting

PROGRESS_MIN_BYTES = 10 * 1024**2  # smaller files finish before a bar is worth drawing


@contextlib.contextmanager
def terminal_progress() -> Iterator[ProgressHook | None]:
    """Rows validated so far, for large files, on a terminal only: silent under cron."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def advance(batch_id: str, file_name: str, size: int, rows: int) -> None:
            if size < PROGRESS_MIN_BYTES:
                return
            if batch_id not in tasks:
                tasks[batch_id] = bar.add_task(f"validating {file_name}", total=None)
            bar.update(tasks[batch_id], completed=rows)

        yield advance


def _console() -> Console:
    """Wide enough for the identifiers: a truncated key is worse than a wrapped line."""
    from rich.console import Console

    return Console(file=sys.stdout, width=max(Console().width, 160))


def print_table(columns: Sequence[str], rows: Iterable[Sequence[str]], *, title: str) -> None:
    """A table drawn by rich on a terminal. Elsewhere (a pipe, a file, cron's mail, the
    journal): the title, a header line and one line per row, columns separated by tabs, which
    ``cut`` and ``awk`` read and which spare ``process`` the import of rich (20-35 ms)."""
    if not sys.stdout.isatty():
        click.echo(title)
        for line in (columns, *rows):
            click.echo("\t".join(" ".join(value.split()) for value in line))
        return
    from rich.table import Table

    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*row)
    _console().print(table)


def print_frame(frame: Any, *, title: str) -> None:
    """A polars frame as a table, leaving out columns that are empty on every row."""
    shown = [name for name in frame.columns if frame[name].null_count() < frame.height]
    rows = frame.select(shown).iter_rows()
    texts = [["" if value is None else str(value) for value in row] for row in rows]
    print_table(shown, texts, title=title)


def print_reports(reports: list[FileReport]) -> None:
    """The summary table of a pass: one line per file."""
    rows = []
    for report in reports:
        receipt = _receipt_text(report.status.value, report.reason and report.reason.value)
        answers = _answers_text(report.counts)
        rows.append(
            [report.institution, report.operation, report.file, receipt, str(report.rows), answers]
        )
    columns = ("institution", "operation", "file", "receipt", "rows", "answers")
    print_table(columns, rows, title="files answered")


def print_status(batches: list[dict[str, Any]], waiting: list[Waiting]) -> None:
    """The last batches (``pipeline.status.last_batches``), then the files still waiting."""
    rows = []
    for batch in batches:
        answers = _answers_text(batch["counts"])
        result = _receipt_text(batch["status"], batch["reason"])
        rows.append(
            [
                batch["finished_at"][:19],
                batch["institution"],
                batch["operation"],
                batch["file"],
                str(batch["rows"]),
                answers,
                str(batch["seconds"]),
                result,
            ]
        )
    print_table(
        ("finished", "institution", "operation", "file", "rows", "answers", "seconds", "result"),
        rows,
        title="last batches",
    )
    click.echo(f"{len(waiting)} file(s) waiting in the inbox")
    for item in waiting:
        click.echo(f"  {item.institution}/{item.operation}/{item.file} ({item.bytes} bytes)")


def _receipt_text(status: str, reason: str | None) -> str:
    """A receipt's status, and its reason when the file was refused: ``REJECTED EMPTY_FILE``."""
    return status + (f" {reason}" if reason else "")


def _answers_text(counts: dict[str, dict[str, int]]) -> str:
    """A receipt's counts of request rows by status: ``FOUND 150, NOT_FOUND 20``."""
    return ", ".join(f"{status} {rows}" for status, rows in counts.get("status", {}).items())
