"""``linkreg admin``: the administrator's tools, each a thin call into ``pipeline.admin``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pipeline.cli.options import failures_to_exit_codes, root_option, settings_for
from pipeline.terminal import print_frame


@click.group()
def admin() -> None:
    """The administrator's tools: delete a link, the review queue, replace an INSZ."""


def as_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as",
        "acting",
        default=None,
        help="The administrator institution acting (default: the only admin in linkreg.toml).",
    )(command)


@admin.command(name="delete")
@root_option
@as_option
@click.option("--insz", required=True)
@click.option("--country", required=True)
@click.option("--key-type", required=True)
@click.option("--key", "foreign_key", required=True)
@click.option("--reason", required=True, help="Why the link goes; kept in its history.")
@failures_to_exit_codes
def admin_delete(
    root: Path | None,
    acting: str | None,
    insz: str,
    country: str,
    key_type: str,
    foreign_key: str,
    reason: str,
) -> None:
    """Delete one link (its history stays)."""
    from pipeline.admin import LinkRef, admin_institution, delete_link

    settings = settings_for(root)
    link = LinkRef(insz=insz, country=country, key_type=key_type, foreign_key=foreign_key)
    report, result = delete_link(
        settings, link, reason=reason, institution=admin_institution(settings, acting)
    )
    row = result.row(0, named=True)
    click.echo(
        f"{row['status']}{' ' + row['reason'] if row['reason'] else ''}"
        f"{': ' + row['message'] if row['message'] else ''} (batch {report.batch_id})"
    )


@admin.command(name="queue")
@root_option
@click.option("--all", "include_closed", is_flag=True, help="Also resolved reports.")
@failures_to_exit_codes
def admin_queue(root: Path | None, include_closed: bool) -> None:
    """List the reported links waiting for review."""
    from pipeline.admin import review_queue

    print_frame(
        review_queue(settings_for(root), include_closed=include_closed), title="review queue"
    )


@admin.command(name="resolve")
@root_option
@as_option
@click.argument("report_id", type=int)
@click.option("--delete", "decision", flag_value="delete", help="Delete the reported link.")
@click.option("--dismiss", "decision", flag_value="dismiss", help="Keep the link.")
@click.option("--note", required=True, help="Why: kept with the report.")
@failures_to_exit_codes
def admin_resolve(
    root: Path | None, acting: str | None, report_id: int, decision: str | None, note: str
) -> None:
    """Resolve a report: delete the link, or dismiss the report."""
    from pipeline.admin import admin_institution, resolve_report

    if decision is None:
        raise click.UsageError("choose --delete or --dismiss")
    settings = settings_for(root)
    state = resolve_report(
        settings,
        report_id,
        delete=decision == "delete",
        note=note,
        institution=admin_institution(settings, acting),
    )
    click.echo(f"report {report_id}: {state.lower()}")


@admin.command(name="replace-insz")
@root_option
@as_option
@click.option("--old", required=True, help="The INSZ that was replaced (usually a BIS number).")
@click.option("--new", required=True, help="The INSZ that replaces it.")
@failures_to_exit_codes
def admin_replace(root: Path | None, acting: str | None, old: str, new: str) -> None:
    """Move the current links of a replaced INSZ to its new number, keeping history."""
    from pipeline.admin import admin_institution, replace_insz

    settings = settings_for(root)
    moved = replace_insz(
        settings, old=old, new=new, institution=admin_institution(settings, acting)
    )
    click.echo(f"{moved} link(s) moved; lookups of the old INSZ now answer with the new one")
