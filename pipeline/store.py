"""The link store: one embedded DuckDB file, its schema migrations and its connection."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import polars as pl

# Each migration is applied once, in order, in its own transaction; later releases append to it.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "links, batch ledger and store state",
        """
        CREATE TABLE links (
            link_id        BIGINT NOT NULL,      -- the same link across its versions
            version        INTEGER NOT NULL,     -- 1 when created, +1 at every change
            insz           BIGINT NOT NULL,      -- 11 digits fit; padded back on output
            country        VARCHAR NOT NULL,
            key_type       VARCHAR NOT NULL,
            foreign_key    VARCHAR NOT NULL,
            valid_from     DATE,                 -- validity: what the link says about the world
            valid_to       DATE,                 -- inclusive; NULL = open-ended
            recorded_from  TIMESTAMPTZ NOT NULL, -- record time: when the register knew this version
            recorded_to    TIMESTAMPTZ,          -- NULL = the current version
            change         VARCHAR NOT NULL,     -- CREATE, UPDATE, MOVE: what made this version
            batch_id       VARCHAR NOT NULL,
            institution    VARCHAR NOT NULL,
            ended_by       VARCHAR,              -- UPDATE, DELETE, MOVE: what ended this version
            ended_batch_id VARCHAR,
            ended_institution VARCHAR,
            ended_reason   VARCHAR
        );
        CREATE TABLE batches (
            batch_id          VARCHAR PRIMARY KEY,
            institution       VARCHAR NOT NULL,
            operation         VARCHAR NOT NULL,
            file_name         VARCHAR NOT NULL,
            sha256            VARCHAR,
            bytes             BIGINT,
            format            VARCHAR,
            dry_run           BOOLEAN NOT NULL,
            status            VARCHAR NOT NULL,
            reason            VARCHAR,
            rows              BIGINT NOT NULL,
            store_version     BIGINT NOT NULL,
            received_at       TIMESTAMPTZ NOT NULL,
            finished_at       TIMESTAMPTZ NOT NULL,
            processor_version VARCHAR NOT NULL,
            output_base       VARCHAR NOT NULL,  -- outbox name stem chosen before the commit
            result_name       VARCHAR,           -- NULL when the file got no result file
            receipt           JSON NOT NULL
        );
        CREATE TABLE store_state (
            store_version BIGINT NOT NULL,   -- +1 at every batch that changed the register
            next_link_id  BIGINT NOT NULL
        );
        INSERT INTO store_state VALUES (0, 1);
        """,
    ),
    (
        "review queue and replaced INSZ",
        """
        CREATE SEQUENCE report_id_seq START 1;
        CREATE TABLE review_queue (
            report_id    BIGINT PRIMARY KEY DEFAULT nextval('report_id_seq'),
            link_id      BIGINT NOT NULL,
            reason       VARCHAR NOT NULL,     -- the reporter's words
            institution  VARCHAR NOT NULL,
            batch_id     VARCHAR NOT NULL,
            reported_at  TIMESTAMPTZ NOT NULL,
            state        VARCHAR NOT NULL DEFAULT 'OPEN',  -- OPEN, DELETED, DISMISSED
            resolved_at  TIMESTAMPTZ,
            resolved_by  VARCHAR,
            note         VARCHAR
        );
        CREATE TABLE insz_replacements (
            old_insz     BIGINT NOT NULL,      -- a BIS number, usually
            new_insz     BIGINT NOT NULL,      -- its national register number
            replaced_at  TIMESTAMPTZ NOT NULL,
            batch_id     VARCHAR NOT NULL,
            institution  VARCHAR NOT NULL
        );
        """,
    ),
    (
        "foreign keys stored uncompressed",
        # Foreign keys are nearly all different: DuckDB's default (dictionary with FSST) saved a
        # third of their space but cost a fifth of a 2M-link load's insert, and every lookup by
        # key decompressed them again. A column's compression is fixed when its table is made,
        # so `links` is made again, in the same order, with the same columns.
        """
        CREATE TABLE links_uncompressed_keys (
            link_id        BIGINT NOT NULL,
            version        INTEGER NOT NULL,
            insz           BIGINT NOT NULL,
            country        VARCHAR NOT NULL,
            key_type       VARCHAR NOT NULL,
            foreign_key    VARCHAR NOT NULL USING COMPRESSION uncompressed,
            valid_from     DATE,
            valid_to       DATE,
            recorded_from  TIMESTAMPTZ NOT NULL,
            recorded_to    TIMESTAMPTZ,
            change         VARCHAR NOT NULL,
            batch_id       VARCHAR NOT NULL,
            institution    VARCHAR NOT NULL,
            ended_by       VARCHAR,
            ended_batch_id VARCHAR,
            ended_institution VARCHAR,
            ended_reason   VARCHAR
        );
        INSERT INTO links_uncompressed_keys SELECT * FROM links;
        DROP TABLE links;
        ALTER TABLE links_uncompressed_keys RENAME TO links;
        """,
    ),
)


class StoreError(Exception):
    """The link store cannot be opened or used."""


class StoreBusy(StoreError):
    """Another process (``linkreg watch`` or ``process``) holds the store."""


@dataclass(frozen=True)
class StoreOptions:
    """How to open the store."""

    path: Path
    memory_limit: str = "768MB"
    temp_directory: Path | None = None
    read_only: bool = False


def connect(options: StoreOptions) -> duckdb.DuckDBPyConnection:
    """Opens the store, creating and migrating it when writable."""
    if options.read_only and not options.path.exists():
        raise StoreError(f"no link store at {options.path}: run `linkreg init` first")
    options.path.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": options.memory_limit}
    if options.temp_directory is not None:
        options.temp_directory.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(options.temp_directory)
    try:
        connection = duckdb.connect(str(options.path), read_only=options.read_only, config=config)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreBusy(
                f"the link store {options.path} is in use by another linkreg process "
                "(a running `linkreg watch` or `process`); try again when it has finished"
            ) from exc
        raise StoreError(f"cannot open the link store {options.path}: {exc}") from exc
    except duckdb.Error as exc:
        raise StoreError(f"cannot open the link store {options.path}: {exc}") from exc
    _hand_text_as_string_views(connection)
    if not options.read_only:
        migrate(connection)
    return connection


def _hand_text_as_string_views(connection: duckdb.DuckDBPyConnection) -> None:
    """Text leaves DuckDB as Arrow string views, the layout polars keeps text in, so a query's
    rows become a polars frame without a copy (plain strings cost a conversion per column).

    A speed-up only: a DuckDB that lacks one of these settings hands plain strings, which every
    reader of its results takes as well.
    """
    for setting in ("SET arrow_output_version = '1.4'", "SET produce_arrow_string_view = true"):
        with suppress(duckdb.Error):
            connection.execute(setting)


@contextmanager
def plain_strings(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Text leaves DuckDB as plain Arrow strings inside the block: for rows that go to
    pyarrow's Parquet writer as they come, which encodes plain strings for less, and DuckDB
    makes them for less (a 2M-row load's result: 0.59-0.61 CPU s against 0.75-0.86)."""
    with suppress(duckdb.Error):
        connection.execute("SET produce_arrow_string_view = false")
    try:
        yield
    finally:
        _hand_text_as_string_views(connection)


@contextmanager
def opened(options: StoreOptions) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(options)
    try:
        yield connection
    finally:
        connection.close()


def migrate(connection: duckdb.DuckDBPyConnection) -> int:
    """Applies the migrations this store has not seen; returns the schema version."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, description VARCHAR NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    row = connection.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    current = int(row[0]) if row else 0
    for version, (description, sql) in enumerate(MIGRATIONS, start=1):
        if version <= current:
            continue
        connection.execute("BEGIN TRANSACTION")
        try:
            connection.execute(sql)
            connection.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (?, ?)",
                [version, description],
            )
            connection.execute("COMMIT")
        except duckdb.Error:
            connection.execute("ROLLBACK")
            raise
        current = version
    return current


def store_version(connection: duckdb.DuckDBPyConnection) -> int:
    row = connection.execute("SELECT store_version FROM store_state").fetchone()
    return int(row[0]) if row else 0


@contextmanager
def registered(
    connection: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame
) -> Iterator[None]:
    """``frame`` as the relation ``name`` for the block's queries.

    DuckDB reads a polars frame through its ``to_arrow()``, which turns each text column from
    polars' string views into Arrow's large strings: a copy of all its text. At the newest
    Arrow level the views go over as they are, and DuckDB reads them: staging a 500k-row chunk
    of a load took 0.077-0.089 s (0.13-0.16 CPU s), and takes 0.056-0.058 s (0.11 CPU s).
    """
    import polars as pl  # here: a pass over an empty inbox needs no polars (60-80 ms)

    connection.register(name, frame.to_arrow(compat_level=pl.CompatLevel.newest()))
    try:
        yield
    finally:
        connection.unregister(name)


def query_frame(
    connection: duckdb.DuckDBPyConnection, sql: str, parameters: object = None
) -> pl.DataFrame:
    """A query's rows as a polars frame, through Arrow (zero-copy where it can)."""
    import polars as pl

    table = connection.sql(sql, params=parameters).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def sql_path(path: Path) -> str:
    """A file path as a quoted SQL string literal's content (COPY and read_* take no parameters)."""
    return str(path).replace("'", "''")
