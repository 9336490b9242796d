"""``create``: new links, classified by joins against the store, then inserted in one statement.

A mass load is mostly rows that concern nothing but themselves: a new key for an INSZ, named
once in the file, unknown to the store. Such a row is simply CREATED. Only the ``contested`` rows
(found by a few whole-file groupings and joins, which cost little when they find nothing) are
classified one by one, in a narrow ``outcome`` table; ``answer`` and the insert then read
``request`` once, beside ``outcome``. Wide copies of the staged rows are what made the load slow
(and spill past DuckDB's memory limit), so none is made. When no row is contested, as in a first
load, ``answer`` reads ``request`` alone: it then comes in request order, so the result is
copied as it comes, with no sort (a join with ``outcome`` would not keep that order). When some
are, the result is still read so, the answers of the contested rows not CREATED put in their
place.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from pipeline.contract import Reason, Status
from pipeline.operations.mutations import find_period_overlaps
from pipeline.operations.sql import echoed_date
from pipeline.results import AS_STAGED_VIEW, CORRECTIONS_VIEW, MOST_CORRECTIONS, Ordering

MESSAGES = {
    Reason.KEY_LINKED_TO_OTHER_INSZ: "the foreign key is already linked to another INSZ",
    Reason.INSZ_REPLACED: "this INSZ was replaced by another: link the new INSZ",
    Reason.PERIOD_OVERLAP: "another key of this country and key type is valid in an overlapping"
    " period for this INSZ",
}


def answer_create(connection: duckdb.DuckDBPyConnection) -> Ordering:
    """Classifies every row as CREATED, ALREADY_EXISTS or CONFLICT, and builds ``answer``;
    says how it comes (``Ordering``): as staged when every row is answered so (none contested,
    or every contested row CREATED), else corrected by the other contested rows' answers,
    unless they are too many to hold.

    A foreign key belongs to one INSZ per country: its owner is the INSZ the store links it to,
    else the INSZ of the first row of the file that names it. Rows for any other INSZ clash.
    """
    find_contested(connection)
    classify_contested(connection)
    # Every row not contested is REJECTED by validation (and echoes the request), or CREATED;
    # so is a contested row classified CREATED (the first row of the file to name a key).
    as_staged = f"""
        SELECT row, ref,
               CASE WHEN reason IS NULL THEN '{Status.CREATED}'
                    ELSE '{Status.REJECTED}' END AS status,
               reason, message, insz, country, key_type, foreign_key,
               {echoed_date("valid_from")} AS valid_from, {echoed_date("valid_to")} AS valid_to
        FROM request
    """
    corrected = connection.execute(
        f"SELECT count(*) FROM outcome WHERE status <> '{Status.CREATED}'"
    ).fetchall()[0][0]
    if corrected == 0:
        connection.execute(f"CREATE OR REPLACE TEMP VIEW answer AS {as_staged}")
        return Ordering.AS_STAGED
    messages = " ".join(f"WHEN '{reason}' THEN '{text}'" for reason, text in MESSAGES.items())

    def answered(join: str) -> str:
        """The rows of ``request`` with their ``outcome`` (a LEFT join) or the rows that have
        one (an INNER join): a row without one is answered as staged; a duplicate is REJECTED
        and echoes the request like any rejected row; a CONFLICT is told why; ALREADY_EXISTS
        shows the stored period."""
        return f"""
        SELECT r.row, r.ref,
               CASE WHEN r.reason IS NOT NULL THEN '{Status.REJECTED}'
                    ELSE coalesce(o.status, '{Status.CREATED}') END AS status,
               coalesce(r.reason, o.reason) AS reason,
               CASE WHEN r.reason IS NOT NULL THEN r.message
                    WHEN o.reason = '{Reason.DUPLICATE_IN_FILE}'
                         THEN 'the same link as row ' || o.first_row
                    WHEN o.reason IS NOT NULL THEN CASE o.reason {messages} END
                    WHEN o.status = '{Status.ALREADY_EXISTS}'
                         AND (o.stored_from IS DISTINCT FROM r.valid_from_d
                              OR o.stored_to IS DISTINCT FROM r.valid_to_d)
                         THEN 'the link exists with another period: use update to change it'
               END AS message,
               r.insz, r.country, r.key_type, r.foreign_key,
               CASE WHEN o.status = '{Status.ALREADY_EXISTS}' THEN CAST(o.stored_from AS VARCHAR)
                    ELSE {echoed_date("valid_from", "r.")} END AS valid_from,
               CASE WHEN o.status = '{Status.ALREADY_EXISTS}' THEN CAST(o.stored_to AS VARCHAR)
                    ELSE {echoed_date("valid_to", "r.")} END AS valid_to
        FROM request r {join} JOIN outcome o USING (row)
        """

    connection.execute(f"CREATE OR REPLACE TEMP VIEW answer AS {answered('LEFT')}")
    if corrected > MOST_CORRECTIONS:
        return Ordering.UNSORTED
    connection.execute(f"CREATE OR REPLACE TEMP VIEW {AS_STAGED_VIEW} AS {as_staged}")
    connection.execute(
        f"""CREATE OR REPLACE TEMP VIEW {CORRECTIONS_VIEW} AS
            SELECT row, status, reason, message, valid_from, valid_to FROM ({answered("INNER")})
            WHERE status <> '{Status.CREATED}'"""
    )
    return Ordering.CORRECTED


def find_contested(connection: duckdb.DuckDBPyConnection) -> None:
    """``contested``: the valid rows whose answer depends on more than the row itself, with why.

    A row's key (country and foreign key) may be named by another row of the file (a duplicate,
    or a second INSZ for the key) or by a current link; for a one-at-a-time key type, its slot
    (INSZ, country and key type) may be taken by another row or link (an overlap); its INSZ may
    have been replaced. The flags let each later step look only at the rows it concerns.

    Each kind of contest is an inner join that lists the rows it finds, so that DuckDB builds
    its hash table on the smaller side: the request's rows against a large store, the store's
    links against a mass load. A flag on every row of the file (``EXISTS``) had it built on the
    links whatever their number: this search took 4.6 s for a 1,000-row file against 20M links
    (now 0.6 s), and 11.5 s in a first load of 20M rows (now 5.5 s).
    """
    connection.execute(
        """
        CREATE OR REPLACE TEMP TABLE contested AS
        WITH valid AS NOT MATERIALIZED (SELECT * FROM request WHERE reason IS NULL),
        one_at_a_time AS NOT MATERIALIZED (
            SELECT * FROM valid WHERE key_type IN (SELECT key_type FROM exclusive_key_types)
        ),
        shared_keys AS (
            SELECT country, foreign_key FROM valid GROUP BY ALL HAVING count(*) > 1
        ),
        shared_slots AS (
            SELECT insz_int, country, key_type FROM one_at_a_time
            GROUP BY ALL HAVING count(*) > 1
        ),
        found AS (
            SELECT v.row, 'key_in_file' AS contest FROM valid v
            JOIN shared_keys k ON k.country = v.country AND k.foreign_key = v.foreign_key
            UNION ALL
            SELECT v.row, 'key_in_store' FROM valid v
            JOIN links l ON l.recorded_to IS NULL AND l.country = v.country
             AND l.foreign_key = v.foreign_key
            UNION ALL
            SELECT v.row, 'slot_in_file' FROM one_at_a_time v
            JOIN shared_slots k ON k.insz_int = v.insz_int AND k.country = v.country
             AND k.key_type = v.key_type
            UNION ALL
            SELECT v.row, 'slot_in_store' FROM one_at_a_time v
            JOIN links l ON l.recorded_to IS NULL AND l.insz = v.insz_int
             AND l.country = v.country AND l.key_type = v.key_type
            UNION ALL
            SELECT v.row, 'insz_replaced' FROM valid v
            JOIN insz_replacements x ON x.old_insz = v.insz_int
        )
        SELECT v.row, v.insz_int, v.country, v.key_type, v.foreign_key, v.valid_from_d,
               v.valid_to_d, f.* EXCLUDE (row)
        FROM valid v
        JOIN (
            SELECT row, bool_or(contest = 'key_in_file') AS key_in_file,
                   bool_or(contest = 'key_in_store') AS key_in_store,
                   bool_or(contest = 'slot_in_file') AS slot_in_file,
                   bool_or(contest = 'slot_in_store') AS slot_in_store,
                   bool_or(contest = 'insz_replaced') AS insz_replaced
            FROM found GROUP BY row
        ) f USING (row)
        """
    )


def classify_contested(connection: duckdb.DuckDBPyConnection) -> None:
    """``outcome``: each contested row with its status, its reason and the stored link it names.

    The same link earlier in the file makes a row a duplicate (REJECTED, ``first_row`` says
    which). The current links with a row's key give, in one join, the key's owner in the store
    and the link the row names, if it exists; the file's owner of a key matters only where
    rows of the file give it to two INSZ; overlaps are looked for only in taken slots.
    """
    connection.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE outcome AS
        WITH repeated AS (
            SELECT insz_int, country, key_type, foreign_key, min(row) AS first_row
            FROM contested WHERE key_in_file GROUP BY ALL HAVING count(*) > 1
        ),
        stored AS (
            SELECT row, min(insz) AS owner, max(link_id) FILTER (named) AS link_id,
                   max(valid_from) FILTER (named) AS stored_from,
                   max(valid_to) FILTER (named) AS stored_to
            FROM (
                SELECT c.row, l.insz, l.link_id, l.valid_from, l.valid_to,
                       l.insz = c.insz_int AND l.key_type = c.key_type AS named
                FROM contested c
                JOIN links l
                  ON l.recorded_to IS NULL AND l.country = c.country
                 AND l.foreign_key = c.foreign_key
                WHERE c.key_in_store
            )
            GROUP BY row
        ),
        matched AS (
            SELECT c.*, d.first_row, coalesce(c.row <> d.first_row, false) AS duplicate,
                   s.owner AS store_owner, s.link_id, s.stored_from, s.stored_to
            FROM contested c
            LEFT JOIN repeated d USING (insz_int, country, key_type, foreign_key)
            LEFT JOIN stored s USING (row)
        ),
        file_owner AS (
            SELECT country, foreign_key, arg_min(insz_int, row) AS insz
            FROM matched WHERE key_in_file AND NOT insz_replaced AND NOT duplicate
            GROUP BY ALL HAVING min(insz_int) <> max(insz_int)
        )
        SELECT m.*, m.valid_from_d AS new_from, m.valid_to_d AS new_to,
               CASE WHEN m.duplicate THEN '{Reason.DUPLICATE_IN_FILE}'
                    WHEN m.insz_replaced THEN '{Reason.INSZ_REPLACED}'
                    WHEN coalesce(m.store_owner, f.insz) <> m.insz_int
                    THEN '{Reason.KEY_LINKED_TO_OTHER_INSZ}' END AS reason,
               CASE WHEN m.duplicate THEN '{Status.REJECTED}'
                    WHEN reason IS NOT NULL THEN '{Status.CONFLICT}'
                    WHEN m.link_id IS NOT NULL THEN '{Status.ALREADY_EXISTS}'
                    ELSE '{Status.CREATED}' END AS status
        FROM matched m
        LEFT JOIN file_owner f USING (country, foreign_key)
        """
    )
    find_period_overlaps(
        connection,
        candidates=f"""SELECT * FROM outcome WHERE status = '{Status.CREATED}'
                       AND (slot_in_file OR slot_in_store)""",
    )
    connection.execute(
        f"""
        UPDATE outcome SET status = '{Status.CONFLICT}', reason = '{Reason.PERIOD_OVERLAP}'
        WHERE row IN (SELECT row FROM overlapping)
        """
    )


def apply_create(
    connection: duckdb.DuckDBPyConnection, *, batch_id: str, institution: str, now: dt.datetime
) -> int:
    """Inserts the CREATED rows as version 1 of new links; returns their count.

    They are the valid rows without an outcome, and the contested rows classified CREATED.
    """
    # The rows may go in in any order (their ids come from their row numbers): DuckDB then
    # inserts on all cores at once, not batch after batch (1.1 s against 1.9 s at 2M rows).
    connection.execute("SET preserve_insertion_order = false")
    try:
        connection.execute(
            f"""
            INSERT INTO links (link_id, version, insz, country, key_type, foreign_key,
                               valid_from, valid_to, recorded_from, change, batch_id, institution)
            SELECT s.next_link_id + r.row - 1, 1, r.insz_int, r.country, r.key_type,
                   r.foreign_key, r.valid_from_d, r.valid_to_d, $now, 'CREATE', $batch_id,
                   $institution
            FROM request r LEFT JOIN outcome o USING (row), store_state s
            WHERE r.reason IS NULL
              AND coalesce(o.status, '{Status.CREATED}') = '{Status.CREATED}'
            """,
            {"now": now, "batch_id": batch_id, "institution": institution},
        )
    finally:  # a result may be copied in request order: DuckDB must keep it
        connection.execute("RESET preserve_insertion_order")
    # Link ids are the next id plus the request row: unique without a sort; unused ids are gaps
    # (the last row that was not rejected moves the next id on, whatever its status).
    row = connection.execute(
        f"""
        SELECT count(*) FILTER (WHERE status = '{Status.CREATED}'),
               coalesce(max(row) FILTER (WHERE status <> '{Status.REJECTED}'), 0)
        FROM answer
        """
    ).fetchone()
    created, last_row = (int(row[0]), int(row[1])) if row else (0, 0)
    connection.execute("UPDATE store_state SET next_link_id = next_link_id + ?", [last_row])
    return created
