"""The audit: the file each lookup batch writes (who asked which INSZ or key, when, and what was
answered), and the trail that reads it with the links' history, newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from pipeline.config import Settings
from pipeline.contract import Status
from pipeline.operations.sql import insz_text
from pipeline.results import ParquetPartWriter
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


_CONSTANT = pa.dictionary(pa.int8(), pa.string())  # one value per file: stored once
AUDIT_SCHEMA = pa.schema(
    [
        pa.field("batch_id", _CONSTANT),
        pa.field("institution", _CONSTANT),
        pa.field("operation", _CONSTANT),
        pa.field("at", pa.timestamp("us", tz="UTC")),
        pa.field("row", pa.int64()),
        pa.field("insz", pa.string()),
        pa.field("country", pa.string()),
        pa.field("key_type", pa.string()),
        pa.field("foreign_key", pa.string()),
        pa.field("as_of", pa.date32()),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC")),
        pa.field("found", pa.bool_()),
        pa.field("found_insz", pa.string()),
    ]
)


class ConsultationWriter(ParquetPartWriter):
    """The audit of one lookup batch: who asked which INSZ or key, when, and what was answered.

    ``write`` takes the answers of a chunk (``lookup_answers``): one audit row for each answer
    row; rejected rows consulted nothing and are left out. ``found_insz`` is the INSZ a key
    lookup found; an INSZ lookup finds the INSZ it asked, which ``insz`` holds, so its
    ``found_insz`` is only written for a replaced INSZ (the new number). Written for every
    found link, it took two fifths of the audit's time (an 11-digit text per row).
    """

    def __init__(
        self, path: Path, *, batch_id: str, institution: str, operation: str, at: dt.datetime
    ) -> None:
        super().__init__(path, AUDIT_SCHEMA)
        self._constants = {"batch_id": batch_id, "institution": institution, "operation": operation}
        self._at = at

    def _table(self, rows: pl.DataFrame | pa.Table) -> pa.Table:
        """The audit rows of the answers of a chunk: rejected rows consulted nothing."""
        answers = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows)
        found = pl.col("status") == Status.FOUND.value
        nothing = pl.lit(None, pl.String)
        if self._constants["operation"] == "lookup-insz":
            asked = [
                pl.coalesce("replaced_insz", "insz").alias("insz"),
                pl.col("asked_country").alias("country"),
                nothing.alias("foreign_key"),
            ]
            # A link found has the INSZ asked, unless that INSZ was replaced: only then is the
            # INSZ found written.
            answered = found & pl.col("replaced_insz").is_not_null()
        else:
            asked = [nothing.alias("insz"), pl.col("country"), pl.col("foreign_key")]
            answered = found
        audited = (
            answers.lazy()
            .filter(pl.col("status") != Status.REJECTED.value)
            .select(
                pl.lit(self._at, pl.Datetime("us", "UTC")).alias("at"),
                "row",
                *asked,
                pl.col("asked_key_type").alias("key_type"),
                pl.col("as_of_d").alias("as_of"),
                pl.col("recorded_at_ts").alias("recorded_at"),
                found.alias("found"),
                pl.when(answered).then("insz").alias("found_insz"),
            )
            .collect()
            .to_arrow(compat_level=pl.CompatLevel.newest())
        )
        zeros = pa.repeat(pa.scalar(0, pa.int8()), audited.num_rows)
        for name, value in self._constants.items():  # one value per file: stored once
            constant = pa.DictionaryArray.from_arrays(zeros, pa.array([value], pa.string()))
            audited = audited.append_column(name, constant)
        return audited


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
