"""The administrator's tools: delete one link, the review queue, replace an INSZ."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

import duckdb
import polars as pl

from pipeline import __version__, ledger, utc_now
from pipeline.config import Settings
from pipeline.contract import Operation, ReceiptStatus
from pipeline.intake import Drop, claim
from pipeline.lock import ProcessorLock
from pipeline.operations.sql import insz_text
from pipeline.processor import FileReport, Processor, ProcessorError
from pipeline.receipts import Receipt
from pipeline.run import load_rules, store_options
from pipeline.store import opened, query_frame, store_version
from schemas.insz import insz_as_integer, is_valid_insz, normalise_insz


class AdminError(Exception):
    """An administration request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class LinkRef:
    """One link, as a person names it at a terminal."""

    insz: str
    country: str
    key_type: str
    foreign_key: str


def admin_institution(settings: Settings, name: str | None) -> str:
    """The administrator institution acting: the one named, or the only admin in linkreg.toml."""
    admins = sorted(i.name for i in settings.institutions.values() if i.admin)
    if name is not None:
        if name not in admins:
            raise AdminError(f"`{name}` is not an administrator institution in linkreg.toml")
        return name
    if len(admins) != 1:
        raise AdminError(
            f"name the administrator institution with --as (one of: {', '.join(admins) or 'none'})"
        )
    return admins[0]


def delete_link(
    settings: Settings, link: LinkRef, *, reason: str, institution: str
) -> tuple[FileReport, pl.DataFrame]:
    """Deletes one link through the ordinary ``delete`` path: validated, ledgered, audited."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["insz", "country", "key_type", "foreign_key", "reason"])
    writer.writerow([link.insz, link.country, link.key_type, link.foreign_key, reason])
    return _process_single(settings, institution, Operation.DELETE, buffer.getvalue())


def _process_single(
    settings: Settings, institution: str, operation: Operation, content: str
) -> tuple[FileReport, pl.DataFrame]:
    now = utc_now()
    with ProcessorLock(settings.work), opened(store_options(settings)) as connection:
        processor = Processor(settings, connection, load_rules(settings, today=dt.date.today()))
        staging = settings.work / f".cli-{now:%Y%m%dT%H%M%S%f}.csv"
        staging.write_text(content, encoding="utf-8")
        claimed = claim(
            Drop(staging, institution, operation),
            settings,
            now=now,
            name=f"cli-{operation}-{now:%Y%m%dT%H%M%S}.csv",
        )
        assert claimed is not None
        report = processor.process(claimed)
        entry = ledger.find(connection, claimed.batch_id)
    assert entry is not None and entry.result_name is not None
    result = settings.outbox / institution / operation.value / entry.result_name
    return report, pl.read_csv(result, infer_schema=False)


def review_queue(settings: Settings, *, include_closed: bool = False) -> pl.DataFrame:
    """Reported links, oldest first, with the link as it stands now (or stood when it ended)."""
    with opened(store_options(settings, read_only=True)) as connection:
        return query_frame(
            connection,
            f"""
            SELECT q.report_id, q.reported_at, q.institution, q.reason, q.state,
                   {insz_text("l.insz")} AS insz, l.country, l.key_type,
                   l.foreign_key, q.resolved_at, q.resolved_by, q.note
            FROM review_queue q
            JOIN (SELECT * FROM links QUALIFY row_number() OVER
                  (PARTITION BY link_id ORDER BY version DESC) = 1) l USING (link_id)
            {"" if include_closed else "WHERE q.state = 'OPEN'"}
            ORDER BY q.report_id
            """,
        )


def resolve_report(
    settings: Settings, report_id: int, *, delete: bool, note: str, institution: str
) -> str:
    """Deletes the reported link (through ``delete``) or dismisses the report; returns the state."""
    with opened(store_options(settings, read_only=True)) as connection:
        row = connection.execute(
            f"""
            SELECT q.state, {insz_text("l.insz")}, l.country, l.key_type,
                   l.foreign_key
            FROM review_queue q JOIN links l ON l.link_id = q.link_id AND l.recorded_to IS NULL
            WHERE q.report_id = ?
            UNION ALL
            SELECT q.state, NULL, NULL, NULL, NULL FROM review_queue q
            WHERE q.report_id = ? AND NOT EXISTS (
                SELECT 1 FROM links l WHERE l.link_id = q.link_id AND l.recorded_to IS NULL)
            """,
            [report_id, report_id],
        ).fetchone()
    if row is None:
        raise AdminError(f"no report {report_id} in the review queue")
    if row[0] != "OPEN":
        raise AdminError(f"report {report_id} is already {row[0].lower()}")
    state = "DISMISSED"
    if delete:
        if row[1] is None:
            raise AdminError(f"the link of report {report_id} no longer exists: dismiss it instead")
        link = LinkRef(insz=row[1], country=row[2], key_type=row[3], foreign_key=row[4])
        delete_link(settings, link, reason=f"review {report_id}: {note}", institution=institution)
        state = "DELETED"
    with ProcessorLock(settings.work), opened(store_options(settings)) as connection:
        connection.execute(
            "UPDATE review_queue SET state = ?, resolved_at = ?, resolved_by = ?, note = ?"
            " WHERE report_id = ?",
            [state, utc_now(), institution, note, report_id],
        )
    return state


def replace_insz(settings: Settings, *, old: str, new: str, institution: str) -> int:
    """Moves the current links of ``old`` to ``new`` (history kept); returns how many moved.

    From then on, lookups of ``old`` answer with the links of ``new`` and the reason
    ``INSZ_REPLACED``; a lookup ``recorded_at`` before the move still sees the old INSZ.
    """
    today = dt.date.today()
    numbers = pl.DataFrame({"insz": [old, new]}).select(normalise_insz(pl.col("insz")))
    checked = numbers.select(
        pl.col("insz"),
        is_valid_insz(pl.col("insz"), reference_date=today).fill_null(False).alias("ok"),
        insz_as_integer(pl.col("insz")).alias("number"),
    )
    if not checked["ok"].all():
        raise AdminError("both numbers must be valid INSZ (national register or BIS numbers)")
    old_number, new_number = checked["number"].to_list()
    if old_number == new_number:
        raise AdminError("the old and the new INSZ are the same number")
    now = utc_now()
    batch_id = f"admin-{now:%Y%m%dT%H%M%S%f}"
    with ProcessorLock(settings.work), opened(store_options(settings)) as connection:
        try:
            return _move_links(
                connection,
                old_number,
                new_number,
                batch_id=batch_id,
                institution=institution,
                now=now,
            )
        except duckdb.Error as exc:
            raise ProcessorError(f"replacing an INSZ failed: {exc}") from exc


def _move_links(
    connection: duckdb.DuckDBPyConnection,
    old: int,
    new: int,
    *,
    batch_id: str,
    institution: str,
    now: dt.datetime,
) -> int:
    ending = {"old": old, "now": now, "batch": batch_id, "who": institution}
    connection.execute("BEGIN TRANSACTION")
    try:
        already = connection.execute(
            "SELECT count(*) FROM insz_replacements WHERE old_insz = ?", [old]
        ).fetchone()
        if already and already[0]:
            raise AdminError("this INSZ was already replaced")
        connection.execute(
            """
            CREATE OR REPLACE TEMP TABLE moving AS
            SELECT l.*, EXISTS (
                SELECT 1 FROM links n WHERE n.recorded_to IS NULL AND n.insz = $new
                AND n.country = l.country AND n.key_type = l.key_type
                AND n.foreign_key = l.foreign_key) AS already_there
            FROM links l WHERE l.insz = $old AND l.recorded_to IS NULL
            """,
            {"old": old, "new": new},
        )
        connection.execute(
            """
            UPDATE links SET recorded_to = $now, ended_by = 'MOVE', ended_batch_id = $batch,
                   ended_institution = $who, ended_reason = 'INSZ replaced'
            WHERE insz = $old AND recorded_to IS NULL
            """,
            ending,
        )
        connection.execute(
            """
            INSERT INTO links (link_id, version, insz, country, key_type, foreign_key, valid_from,
                               valid_to, recorded_from, change, batch_id, institution)
            SELECT link_id, version + 1, $new, country, key_type, foreign_key, valid_from,
                   valid_to, $now, 'MOVE', $batch, $who
            FROM moving WHERE NOT already_there
            """,
            {"new": new, "now": now, "batch": batch_id, "who": institution},
        )
        # Chains stay one step long: whatever pointed at the old number now points at the new.
        connection.execute(
            "UPDATE insz_replacements SET new_insz = $new WHERE new_insz = $old",
            {"old": old, "new": new},
        )
        connection.execute(
            "INSERT INTO insz_replacements VALUES ($old, $new, $now, $batch, $who)",
            {"old": old, "new": new, "now": now, "batch": batch_id, "who": institution},
        )
        row = connection.execute("SELECT count(*) FROM moving").fetchone()
        moved = int(row[0]) if row else 0
        connection.execute("UPDATE store_state SET store_version = store_version + 1")
        receipt = Receipt(
            batch_id=batch_id,
            institution=institution,
            operation="replace-insz",
            file="(command line)",
            sha256="",
            bytes=0,
            format="",
            dry_run=False,
            status=ReceiptStatus.ACCEPTED,
            reason=None,
            rows=1,
            counts={"status": {"MOVED": moved}},
            store_version=store_version(connection),
            received_at=now,
            finished_at=utc_now(),
            processor_version=__version__,
        )
        ledger.record(
            connection, receipt=receipt, ledger_id=batch_id, output_base=batch_id, result_name=None
        )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return moved
