"""The store's migrations: a store made by an earlier release is brought up to date, its links
kept as they were."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from pipeline import store
from pipeline.store import MIGRATIONS, migrate


def _compression(connection: duckdb.DuckDBPyConnection, column: str) -> set[str]:
    return {
        compression
        for (compression,) in connection.execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('links')"
            " WHERE column_name = $column AND segment_type = 'VARCHAR'",
            {"column": column},
        ).fetchall()
    }


def test_a_store_of_an_earlier_release_keeps_its_links_through_the_migrations(
    tmp_path, monkeypatch
):
    """Links written before the foreign keys were stored uncompressed: after the migration the
    same rows, in the same order, with the keys uncompressed, and new links the same way."""
    path = tmp_path / "store.duckdb"
    with duckdb.connect(str(path)) as connection:
        monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[:2])  # the release before
        assert migrate(connection) == 2
        monkeypatch.undo()
        connection.execute(
            """
            INSERT INTO links
            SELECT range + 1, 1, 85073003328 + range, 'NL', 'TAX_NUMBER', 'K' || (range * 7919),
                   DATE '2020-01-01', NULL, TIMESTAMPTZ '2026-01-01 00:00:00+00', NULL, 'CREATE',
                   'B1', 'KSZ', NULL, NULL, NULL, NULL
            FROM range(300000)
            """
        )
        connection.execute("CHECKPOINT")
        before = connection.execute("SELECT * FROM links").fetchall()
        assert _compression(connection, "foreign_key") != {"Uncompressed"}

    with duckdb.connect(str(path)) as connection:
        assert migrate(connection) == len(MIGRATIONS)
        connection.execute(
            "INSERT INTO links SELECT link_id + 300000, version, insz, country, key_type,"
            " foreign_key || 'X', valid_from, valid_to, recorded_from, recorded_to, change,"
            " batch_id, institution, ended_by, ended_batch_id, ended_institution, ended_reason"
            " FROM links"
        )
        connection.execute("CHECKPOINT")

    with duckdb.connect(str(path)) as connection:
        assert connection.execute("SELECT * FROM links LIMIT 300000").fetchall() == before
        assert connection.execute("SELECT count(*) FROM links").fetchall() == [(600000,)]
        assert _compression(connection, "foreign_key") == {"Uncompressed"}
        assert migrate(connection) == len(MIGRATIONS), "applied once"


def test_a_registered_frame_reads_in_duckdb_as_it_is_in_polars():
    """``registered`` hands text over as Arrow string views: short and long values (a view
    holds up to 12 bytes itself), empty, null and non-ASCII text, beside the other types a
    staged chunk has, come back from DuckDB unchanged."""
    long = "NL/BE/" + "x" * 250
    frame = pl.DataFrame(
        {
            "text": ["short", long, "", None, "Ærø-ĳ", "123456789012", "1234567890123"],
            "number": [1, None, 3, 4, 5, 6, 7],
            "day": [dt.date(2026, 11, 29), None, None, None, None, None, dt.date(1900, 1, 1)],
            "moment": [dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC), *[None] * 6],
            "flag": [True, False, None, True, True, False, True],
        },
        schema_overrides={"moment": pl.Datetime("us", "UTC")},
    ).with_row_index("position")
    connection = duckdb.connect()
    with store.registered(connection, "frame", frame):
        back = store.query_frame(connection, "SELECT * FROM frame ORDER BY position")
    # DuckDB names UTC "Etc/UTC": the same instants.
    assert back.with_columns(pl.col("moment").dt.convert_time_zone("UTC")).equals(frame)
    assert "frame" not in {row[0] for row in connection.execute("SHOW TABLES").fetchall()}
