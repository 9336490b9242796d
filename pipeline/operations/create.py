"""``create``: new links, classified by joins against the store, then inserted in one statement."""

from __future__ import annotations

import datetime as dt

import duckdb

from pipeline.contract import Reason, Status
from pipeline.operations.mutations import (
    find_period_overlaps,
    match_current_links,
    reject_duplicates,
)
from pipeline.operations.sql import rejected_rows

MESSAGES = {
    Reason.KEY_LINKED_TO_OTHER_INSZ: "the foreign key is already linked to another INSZ",
    Reason.INSZ_REPLACED: "this INSZ was replaced by another: link the new INSZ",
    Reason.PERIOD_OVERLAP: "another key of this country and key type is valid in an overlapping"
    " period for this INSZ",
}


def answer_create(connection: duckdb.DuckDBPyConnection) -> None:
    """Classifies every row as CREATED, ALREADY_EXISTS or CONFLICT, and builds ``answer``.

    A foreign key belongs to one INSZ per country: its owner is the INSZ the store links it to,
    else the INSZ of the first row of the file that names it. Rows for any other INSZ clash.
    """
    reject_duplicates(connection)
    match_current_links(connection)
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE outcome AS
        WITH store_owner AS (
            SELECT l.country, l.foreign_key, min(l.insz) AS insz
            FROM links l SEMI JOIN matched m
              ON l.country = m.country AND l.foreign_key = m.foreign_key
            WHERE l.recorded_to IS NULL
            GROUP BY ALL
        ),
        file_owner AS (
            SELECT country, foreign_key, arg_min(insz_int, row) AS insz
            FROM matched WHERE NOT insz_replaced GROUP BY ALL
        )
        SELECT m.*, m.valid_from_d AS new_from, m.valid_to_d AS new_to,
               CASE WHEN m.insz_replaced THEN '{Reason.INSZ_REPLACED}'
                    WHEN coalesce(s.insz, f.insz) <> m.insz_int
                    THEN '{Reason.KEY_LINKED_TO_OTHER_INSZ}' END AS conflict,
               CASE WHEN conflict IS NOT NULL THEN '{Status.CONFLICT}'
                    WHEN m.link_id IS NOT NULL THEN '{Status.ALREADY_EXISTS}'
                    ELSE '{Status.CREATED}' END AS status
        FROM matched m
        LEFT JOIN file_owner f USING (country, foreign_key)
        LEFT JOIN store_owner s USING (country, foreign_key)
        """
    )
    find_period_overlaps(
        connection, candidates=f"SELECT * FROM outcome WHERE status = '{Status.CREATED}'"
    )
    connection.execute(
        f"""
        UPDATE outcome SET status = '{Status.CONFLICT}', conflict = '{Reason.PERIOD_OVERLAP}'
        WHERE row IN (SELECT row FROM overlapping)
        """
    )
    messages = " ".join(f"WHEN '{reason}' THEN '{text}'" for reason, text in MESSAGES.items())
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE answer AS
        SELECT row, ref, status, conflict AS reason,
               CASE WHEN conflict IS NOT NULL THEN CASE conflict {messages} END
                    WHEN status = '{Status.ALREADY_EXISTS}'
                         AND (stored_from IS DISTINCT FROM valid_from_d
                              OR stored_to IS DISTINCT FROM valid_to_d)
                         THEN 'the link exists with another period: use update to change it'
               END AS message,
               insz, country, key_type, foreign_key,
               CAST(CASE WHEN status = '{Status.ALREADY_EXISTS}' THEN stored_from
                         ELSE valid_from_d END AS VARCHAR) AS valid_from,
               CAST(CASE WHEN status = '{Status.ALREADY_EXISTS}' THEN stored_to
                         ELSE valid_to_d END AS VARCHAR) AS valid_to
        FROM outcome
        UNION ALL
        {rejected_rows()}
        """
    )


def apply_create(
    connection: duckdb.DuckDBPyConnection, *, batch_id: str, institution: str, now: dt.datetime
) -> int:
    """Inserts the CREATED rows of ``outcome`` as version 1 of new links; returns their count."""
    connection.execute(
        f"""
        INSERT INTO links (link_id, version, insz, country, key_type, foreign_key, valid_from,
                           valid_to, recorded_from, change, batch_id, institution)
        SELECT s.next_link_id + o.row - 1, 1, o.insz_int, o.country,
               o.key_type, o.foreign_key, o.valid_from_d, o.valid_to_d, $now, 'CREATE', $batch_id,
               $institution
        FROM outcome o, store_state s
        WHERE o.status = '{Status.CREATED}'
        """,
        {"now": now, "batch_id": batch_id, "institution": institution},
    )
    # Link ids are the next id plus the request row: unique without a sort; unused ids are gaps.
    row = connection.execute(
        f"SELECT count(*) FILTER (WHERE status = '{Status.CREATED}'), coalesce(max(row), 0)"
        " FROM outcome"
    ).fetchone()
    created, last_row = (int(row[0]), int(row[1])) if row else (0, 0)
    connection.execute("UPDATE store_state SET next_link_id = next_link_id + ?", [last_row])
    return created
