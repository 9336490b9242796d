"""The audit trail: who consulted or changed a person's links, and when, newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from pipeline.config import Settings
from pipeline.operations.sql import insz_text
from pipeline.run import store_options
from pipeline.store import opened, query_frame

AUDIT_COLUMNS = (
    "at",
    "action",
    "institution",
    "batch_id",
    "insz",
    "country",
    "key_type",
    "foreign_key",
    "answers",
    "valid_from",
    "valid_to",
    "detail",
)


@dataclass(frozen=True)
class AuditQuery:
    """One person (an INSZ) or one key (country and foreign key), optionally within dates."""

    insz: str | None = None
    country: str | None = None
    foreign_key: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def audit_trail(settings: Settings, query: AuditQuery) -> pl.DataFrame:
    """Consultations (from the per-batch audit files) and changes (from the link history)."""
    with opened(store_options(settings, read_only=True)) as connection:
        frames = [_changes(connection, query)]
        files = sorted((settings.root / "audit").rglob("*.parquet"))
        if files:
            frames.append(_consultations(connection, query, [str(f) for f in files]))
    trail = pl.concat(frames, how="vertical_relaxed")
    return trail.sort("at", descending=True).select(AUDIT_COLUMNS)


def _who(query: AuditQuery, *, insz: str, country: str, key: str) -> tuple[str, dict[str, object]]:
    if query.insz is not None:
        return f"{insz} = $insz", {"insz": query.insz}
    return f"{country} = $country AND {key} = $key", {
        "country": (query.country or "").upper(),
        "key": query.foreign_key,
    }


def _window(query: AuditQuery, column: str) -> tuple[str, dict[str, object]]:
    return (
        f"($since IS NULL OR {column} >= $since) AND ($until IS NULL OR {column} < $until)",
        {"since": query.since, "until": query.until},
    )


def _changes(connection: duckdb.DuckDBPyConnection, query: AuditQuery) -> pl.DataFrame:
    who, parameters = _who(query, insz=insz_text("insz"), country="country", key="foreign_key")
    started, window = _window(query, "recorded_from")
    ended, _ = _window(query, "recorded_to")
    reported_window, _ = _window(query, '"at"')
    return query_frame(
        connection,
        f"""
        WITH versions AS (SELECT * FROM links WHERE {who}),
        reported AS (
            SELECT q.reported_at AS "at", 'REPORT' AS action, q.institution, q.batch_id, v.*,
                   q.reason AS detail
            FROM review_queue q JOIN versions v ON v.link_id = q.link_id AND v.version = (
                SELECT max(version) FROM links w WHERE w.link_id = q.link_id
                AND w.recorded_from <= q.reported_at)
        )
        SELECT recorded_from AS at, change AS action, institution, batch_id,
               {insz_text("insz")} AS insz, country, key_type, foreign_key,
               NULL::BIGINT AS answers, CAST(valid_from AS VARCHAR) AS valid_from,
               CAST(valid_to AS VARCHAR) AS valid_to, 'version ' || version AS detail
        FROM versions WHERE {started}
        UNION ALL
        SELECT recorded_to, ended_by, ended_institution, ended_batch_id,
               {insz_text("insz")}, country, key_type, foreign_key, NULL,
               CAST(valid_from AS VARCHAR), CAST(valid_to AS VARCHAR), ended_reason
        FROM versions WHERE ended_by IN ('DELETE', 'MOVE') AND {ended}
        UNION ALL
        SELECT "at", action, institution, batch_id, {insz_text("insz")}, country,
               key_type, foreign_key, NULL, CAST(valid_from AS VARCHAR), CAST(valid_to AS VARCHAR),
               detail
        FROM reported WHERE {reported_window}
        """,
        parameters | window,
    )


def _consultations(
    connection: duckdb.DuckDBPyConnection, query: AuditQuery, files: list[str]
) -> pl.DataFrame:
    who, parameters = _who(
        query, insz="coalesce(insz, found_insz)", country="country", key="foreign_key"
    )
    if query.insz is not None:
        who = "(insz = $insz OR found_insz = $insz)"
    window, dates = _window(query, '"at"')
    return query_frame(
        connection,
        f"""
        SELECT any_value("at") AS "at", upper(any_value(operation)) AS action,
               any_value(institution) AS institution, batch_id, any_value(insz) AS insz,
               any_value(country) AS country, any_value(key_type) AS key_type,
               any_value(foreign_key) AS foreign_key, count(*) FILTER (WHERE found) AS answers,
               NULL AS valid_from, NULL AS valid_to,
               CASE WHEN any_value(insz) IS NULL THEN 'answered ' || min(found_insz) END AS detail
        FROM read_parquet($files, union_by_name = true)
        WHERE {who} AND {window}
        GROUP BY batch_id, row
        """,
        parameters | dates | {"files": files},
    )
