"""``update``, ``delete`` and ``report``: each names one current link; classified, then applied."""

from __future__ import annotations

import datetime as dt

import duckdb

from pipeline.contract import Reason, Status
from pipeline.operations.create import MESSAGES
from pipeline.operations.mutations import (
    find_period_overlaps,
    match_current_links,
    reject_duplicates,
)
from pipeline.operations.sql import rejected_rows

OVERLAP_MESSAGE = MESSAGES[Reason.PERIOD_OVERLAP]
NOT_FOUND_MESSAGE = (
    "no current link with this INSZ, country, key type and foreign key"
    " (another key is another link: use create)"
)


def answer_update(connection: duckdb.DuckDBPyConnection) -> None:
    """UPDATED when the period differs, UNCHANGED when it is the same, NOT_FOUND otherwise;
    CONFLICT / PERIOD_OVERLAP when the new period overlaps another key of a one-at-a-time type."""
    _classify(
        connection,
        found=f"""CASE WHEN stored_from IS NOT DISTINCT FROM valid_from_d
                            AND stored_to IS NOT DISTINCT FROM valid_to_d
                       THEN '{Status.UNCHANGED}' ELSE '{Status.UPDATED}' END""",
    )
    find_period_overlaps(
        connection, candidates=f"SELECT * FROM outcome WHERE status = '{Status.UPDATED}'"
    )
    connection.execute(
        f"""
        UPDATE outcome SET status = '{Status.CONFLICT}', conflict = '{Reason.PERIOD_OVERLAP}'
        WHERE row IN (SELECT row FROM overlapping)
        """
    )
    _answer(
        connection,
        message=f"""CASE WHEN status = '{Status.UPDATED}'
                         THEN 'previous period: ' || coalesce(CAST(stored_from AS VARCHAR), 'open')
                              || ' to ' || coalesce(CAST(stored_to AS VARCHAR), 'open')
                         WHEN status = '{Status.CONFLICT}' THEN '{OVERLAP_MESSAGE}' END""",
        period=("valid_from_d", "valid_to_d"),
    )


def answer_delete(connection: duckdb.DuckDBPyConnection) -> None:
    _classify(connection, found=f"'{Status.DELETED}'")
    _answer(connection)


def answer_report(connection: duckdb.DuckDBPyConnection) -> None:
    _classify(connection, found=f"'{Status.REPORTED}'")
    _answer(connection)


def _classify(connection: duckdb.DuckDBPyConnection, *, found: str) -> None:
    """``outcome``: every valid row with its status; NOT_FOUND when it names no current link."""
    reject_duplicates(connection)
    match_current_links(connection)
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE outcome AS
        SELECT *, valid_from_d AS new_from, valid_to_d AS new_to,
               CASE WHEN link_id IS NULL THEN '{Status.NOT_FOUND}' ELSE {found} END AS status,
               CAST(NULL AS VARCHAR) AS conflict
        FROM matched
        """
    )


def _answer(
    connection: duckdb.DuckDBPyConnection,
    *,
    message: str = "NULL",
    period: tuple[str, str] = ("stored_from", "stored_to"),
) -> None:
    """The answer rows: found links show their period, the others echo the request."""
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE answer AS
        SELECT row, ref, status, conflict AS reason,
               CASE WHEN status = '{Status.NOT_FOUND}' THEN '{NOT_FOUND_MESSAGE}'
                    ELSE {message} END AS message,
               insz, country, key_type, foreign_key,
               CASE WHEN status = '{Status.NOT_FOUND}' THEN CAST(valid_from_d AS VARCHAR)
                    ELSE CAST({period[0]} AS VARCHAR) END AS valid_from,
               CASE WHEN status = '{Status.NOT_FOUND}' THEN CAST(valid_to_d AS VARCHAR)
                    ELSE CAST({period[1]} AS VARCHAR) END AS valid_to
        FROM outcome
        UNION ALL
        {rejected_rows()}
        """
    )


def _end_versions(
    connection: duckdb.DuckDBPyConnection,
    *,
    status: Status,
    ended_by: str,
    batch_id: str,
    institution: str,
    now: dt.datetime,
) -> int:
    """Closes the current version of every link the outcome marks with ``status``."""
    connection.execute(
        f"""
        UPDATE links SET recorded_to = $now, ended_by = $ended_by, ended_batch_id = $batch_id,
               ended_institution = $institution, ended_reason = o.change_reason
        FROM outcome o
        WHERE o.status = '{status}' AND links.link_id = o.link_id AND links.recorded_to IS NULL
        """,
        {"now": now, "ended_by": ended_by, "batch_id": batch_id, "institution": institution},
    )
    row = connection.execute(f"SELECT count(*) FROM outcome WHERE status = '{status}'").fetchone()
    return int(row[0]) if row else 0


def apply_update(
    connection: duckdb.DuckDBPyConnection, *, batch_id: str, institution: str, now: dt.datetime
) -> int:
    """The previous version is closed and kept; the new period becomes the next version."""
    changed = _end_versions(
        connection,
        status=Status.UPDATED,
        ended_by="UPDATE",
        batch_id=batch_id,
        institution=institution,
        now=now,
    )
    connection.execute(
        f"""
        INSERT INTO links (link_id, version, insz, country, key_type, foreign_key, valid_from,
                           valid_to, recorded_from, change, batch_id, institution)
        SELECT link_id, version + 1, insz_int, country, key_type, foreign_key, valid_from_d,
               valid_to_d, $now, 'UPDATE', $batch_id, $institution
        FROM outcome WHERE status = '{Status.UPDATED}'
        """,
        {"now": now, "batch_id": batch_id, "institution": institution},
    )
    return changed


def apply_delete(
    connection: duckdb.DuckDBPyConnection, *, batch_id: str, institution: str, now: dt.datetime
) -> int:
    """The link stops being answered; all its versions stay, the last one says who ended it."""
    return _end_versions(
        connection,
        status=Status.DELETED,
        ended_by="DELETE",
        batch_id=batch_id,
        institution=institution,
        now=now,
    )


def apply_report(
    connection: duckdb.DuckDBPyConnection, *, batch_id: str, institution: str, now: dt.datetime
) -> int:
    """Reported links join the administrator's review queue; the links themselves stay."""
    connection.execute(
        f"""
        INSERT INTO review_queue (link_id, reason, institution, batch_id, reported_at)
        SELECT link_id, change_reason, $institution, $batch_id, $now
        FROM outcome WHERE status = '{Status.REPORTED}' ORDER BY row
        """,
        {"now": now, "batch_id": batch_id, "institution": institution},
    )
    return 0
