"""``lookup-insz`` and ``lookup-key``: each chunk of the request answered by one query.

A lookup changes nothing, so it needs no staging: every validated chunk is joined to the store
as it comes, straight from its polars frame, and its answers go to the result and the audit
before the next chunk is read.

DuckDB does the join and hands back the links found, narrow: the position of the request row
in its chunk and the link's own columns. Polars puts them in request order, then link order
(the order the links were created in), and gathers the request's columns by position. Every
row of the chunk is answered, the rejected ones too: they join nothing and echo their
normalised values. Handing the request's columns through DuckDB and back as text took DuckDB
three times as long (0.29 s against 0.10 s for 500k rows) and a fifth more CPU in all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager

import duckdb
import polars as pl
import pyarrow as pa

from pipeline.contract import Operation, Reason, Status
from pipeline.operations.sql import known_at, valid_on
from pipeline.store import registered
from schemas.insz import insz_as_text

REPLACED_MESSAGE = "this INSZ was replaced: the answer is the links of the new INSZ"
LOOKUPS = frozenset({Operation.LOOKUP_INSZ, Operation.LOOKUP_KEY})

# What was asked and the answer does not show, for the consultation audit (not in the result):
# the filters, and the INSZ asked when it was replaced (the answer shows the new one). A key
# asked is the key answered: a found link has that country and key, a row not found echoes it.
ASKED_COLUMNS = ("replaced_insz", "asked_country", "asked_key_type", "as_of_d", "recorded_at_ts")

_CHUNK = "lookup_chunk"
_POSITION = "position"  # of a request row in its chunk
_ARROW_BATCH = 1 << 22
_MOST_DAYS_FORMATTED = 1 << 16  # 179 years of days: 3 ms to format (``_as_text``)
# The links a chunk's join may find at once, for each row of a full chunk: the usual chunk finds
# 1-1.5 a row, and memory is sized for that. A chunk that asks many times for people with many
# links is answered in pieces (``found_by_piece``): a file asking 300k times for one INSZ of 31
# links (9.3M answer rows) peaked at 2.5 GB in whole chunks, and at 0.64 GB in pieces.
MOST_FOUND_PER_ROW = 2
# The staged columns the query reads, and those the answers echo.
_MATCHED = (_POSITION, "reason", "insz_int", "country", "key_type", "foreign_key", "as_of_d",
            "recorded_at_ts")  # fmt: skip
_ECHOED = ("row", "ref", "reason", "message", "insz", "country", "key_type", "foreign_key",
           "valid_from", "valid_to", "as_of_d", "recorded_at_ts")  # fmt: skip


def lookup_answers(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    *,
    operation: Operation,
    today: dt.date,
) -> pl.DataFrame:
    """The answer rows of one validated chunk (``STAGED_SCHEMA``), in request order.

    ``lookup-insz``: all links of each INSZ, filtered by country, key type, validity date and
    record time. An INSZ that the administrator replaced (a BIS number that became a national
    register number) is answered with the links of its new number and the reason
    ``INSZ_REPLACED``. ``lookup-key``: the INSZ linked to each foreign key of a country,
    optionally of one key type. Rejected rows echo their normalised values.

    The frame has the result columns, then ``ASKED_COLUMNS`` and ``link_id`` for the audit.
    """
    links = found_links(connection, rows, operation=operation, today=today)
    return _answers(rows, in_answer_order(links), operation=operation)


def found_links(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    *,
    operation: Operation,
    today: dt.date,
    most: int | None = None,
) -> pa.Table:
    """The store's half of the answers of a chunk: the links each request row found, by the
    row's position in the chunk, in no order; a row that found none (or was rejected) has one
    row with no link. See ``lookup_answers``.

    ``most``: the rows it may have; ``TooManyFound`` when there would be more, as soon as
    DuckDB has handed over that many (the rest is not made).
    """
    with _registered(connection, rows):
        query = _query(connection, rows, operation=operation)
        found = connection.sql(query, params={"today": today})
        with found.to_arrow_reader(_ARROW_BATCH) as reader:
            batches, count = [], 0
            for batch in reader:
                count += batch.num_rows
                if most is not None and count > most:
                    raise TooManyFound(most)
                batches.append(batch)
            return pa.Table.from_batches(batches, schema=reader.schema)


class TooManyFound(Exception):
    """A chunk's join would hand over more rows than it may."""


def found_by_piece(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    *,
    operation: Operation,
    today: dt.date,
    most: int,
) -> Iterator[tuple[pl.DataFrame, pa.Table]]:
    """The links found for a validated chunk (``found_links``), with the rows they are for, in
    request order: the whole chunk in one piece, unless its links would pass ``most`` rows.
    Then DuckDB counts each row's links, and the chunk is cut into pieces of at most ``most``
    links each (a row's links stay together, however many)."""
    try:
        yield rows, found_links(connection, rows, operation=operation, today=today, most=most)
        return
    except TooManyFound:
        pass
    answers = _answers_per_row(connection, rows, operation=operation, today=today)
    pieces = ((answers.cum_sum() - answers) // most).rle()  # by where their answers start
    first = 0
    for length in pieces.struct.field("len"):
        piece = rows.slice(first, length)
        yield piece, found_links(connection, piece, operation=operation, today=today)
        first += length


def _answers_per_row(
    connection: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    *,
    operation: Operation,
    today: dt.date,
) -> pl.Series:
    """How many answer rows each row of a chunk has (at least one), in chunk order."""
    with _registered(connection, rows):
        query = _query(connection, rows, operation=operation)
        counted = connection.sql(
            f"SELECT count(*) AS answers FROM ({query}) GROUP BY {_POSITION} ORDER BY {_POSITION}",
            params={"today": today},
        )
        return counted.pl()["answers"]


def _registered(
    connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame
) -> AbstractContextManager[None]:
    """The chunk as the relation its query reads, with each row's position in it."""
    return registered(connection, _CHUNK, rows.with_row_index(_POSITION).select(_MATCHED))


def answer_pieces(
    rows: pl.DataFrame, links: pa.Table, *, operation: Operation, most: int
) -> Iterator[pl.DataFrame]:
    """The answer rows of a chunk (``lookup_answers``) from its validated rows and the links
    they found (``found_links``), in pieces of at most ``most`` rows, one after the other, so
    that a chunk's answers are never all made at once: a piece of answers has some twenty
    columns, the links found a chunk's join hands over seven. A row's answers stay together,
    however many.

    A lookup's chunks grow with the store, as each chunk's join reads the links again (a
    10M-row file against 20M links: 9.3-9.5 s of joins in chunks of 500k rows, 7.2 s in chunks
    of 1M); its pieces do not."""
    found = in_answer_order(links)
    asked = found[_POSITION]
    first = 0
    while first < found.height:
        end = first + most
        if end < found.height:  # cut before the row whose answers would pass ``most``
            cut = max(asked[end], asked[first] + 1)
            end = asked.search_sorted(cut, side="left")
        yield _answers(rows, found.slice(first, end - first), operation=operation)
        first = end


def in_answer_order(links: pa.Table) -> pl.DataFrame:
    """The links a chunk found (``found_links``) in the order of its answers: by request row,
    then link (the order the links were created in), their dates as text.

    One integer key (position and link id both fit in 32 bits) sorts faster than two, and
    its order on one thread, then a gather of the rows, faster than a sort of the frame on
    all threads (0.10 s against 0.14 s for 380k links): the other threads are busy anyway.
    """
    found = pl.from_arrow(links, rechunk=True)
    assert isinstance(found, pl.DataFrame)
    key = pl.col(_POSITION).cast(pl.Int64) * (1 << 32) + pl.col("link_id").fill_null(0)
    found = found[found.select(pl.arg_sort_by(key, multithreaded=False)).to_series()]
    return found.with_columns(
        _as_text(found[name]) for name in ("link_valid_from", "link_valid_to")
    )


def _answers(rows: pl.DataFrame, found: pl.DataFrame, *, operation: Operation) -> pl.DataFrame:
    """The answer rows of the links ``found`` (``in_answer_order``), the request's columns
    gathered to them from the chunk's validated ``rows``.

    A request column that no row of the chunk fills (a lookup's filters, mostly) is not
    gathered: it is null. Where an answer takes the link's value, or else the row's, it then
    takes the link's alone (a rejected row finds no link, so its link columns are null too).
    An INSZ lookup's answers take 0.12 CPU s per 1M requests so, instead of 0.24."""
    empty = frozenset(  # none in a chunk without rows: literals would give it one
        name for name in _ECHOED if rows.height and rows[name].null_count() == rows.height
    )
    asked = rows.select(
        pl.lit(None, rows.schema[name]).alias(name)
        if name in empty
        else pl.col(name).gather(found[_POSITION])
        for name in _ECHOED
    )
    valid = pl.col("reason").is_null()
    any_replaced = "replaced" in found.columns and bool(found["replaced"].any())

    def or_replacement(usual: pl.Expr, replacement: pl.Expr) -> pl.Expr:
        """``usual``, or ``replacement`` on the rows whose INSZ was replaced."""
        return pl.when("replaced").then(replacement).otherwise(usual) if any_replaced else usual

    def linked(name: str) -> pl.Expr:
        """The found link's value; the row's own where it found none."""
        if f"link_{name}" not in found.columns:  # a key lookup's country and key: as asked
            return pl.col(name)
        return pl.col(f"link_{name}") if name in empty else pl.coalesce(f"link_{name}", name)

    def dated(name: str) -> pl.Expr:
        """The found link's date; a rejected row's own text (a valid row's is the link's)."""
        link = pl.col(f"link_{name}")
        return link if name in empty else pl.when(valid).then(link).otherwise(name)

    if operation is Operation.LOOKUP_INSZ:  # a link found has the INSZ asked: no formatting
        answered_insz = or_replacement(pl.col("insz"), insz_as_text(pl.col("target_insz")))
    else:
        answered_insz = pl.when(valid).then(insz_as_text(pl.col("link_insz"))).otherwise("insz")
    return pl.concat([asked, found], how="horizontal").select(
        "row",
        "ref",
        pl.when(~valid)
        .then(pl.lit(Status.REJECTED.value))
        .when(pl.col("link_id").is_null())
        .then(pl.lit(Status.NOT_FOUND.value))
        .otherwise(pl.lit(Status.FOUND.value))
        .alias("status"),
        or_replacement(pl.col("reason"), pl.lit(Reason.INSZ_REPLACED.value)).alias("reason"),
        or_replacement(pl.col("message"), pl.lit(REPLACED_MESSAGE)).alias("message"),
        answered_insz.alias("insz"),
        *(linked(name).alias(name) for name in ("country", "key_type", "foreign_key")),
        *(dated(name).alias(name) for name in ("valid_from", "valid_to")),
        or_replacement(pl.lit(None, pl.String), pl.col("insz")).alias("replaced_insz"),
        pl.col("country").alias("asked_country"),
        pl.col("key_type").alias("asked_key_type"),
        "as_of_d",
        "recorded_at_ts",
        "link_id",
    )


def _as_text(dates: pl.Series) -> pl.Series:
    """Dates as ISO text. Links share few dates, within a few decades: each day from the first
    date to the last is formatted once, and each row takes its day's text by position. Formatting
    every row costs four to thirty times more (3,000 to 1 distinct dates); looking each row's
    date up among the distinct dates formatted once, two to four times more. Dates farther
    apart than ``_MOST_DAYS_FORMATTED`` are looked up so."""
    days = dates.to_physical()
    first, last = days.min(), days.max()
    if first is None:  # no date at all
        return pl.repeat(None, dates.len(), dtype=pl.String, eager=True).alias(dates.name)
    assert isinstance(first, int) and isinstance(last, int)
    if last - first < _MOST_DAYS_FORMATTED:
        span = pl.int_range(first, last + 1, dtype=pl.Int32, eager=True).cast(pl.Date)
        return span.cast(pl.String).gather(days - first).alias(dates.name)
    distinct = dates.unique().drop_nulls()
    return dates.replace_strict(distinct, distinct.cast(pl.String), default=None)


def _query(
    connection: duckdb.DuckDBPyConnection, rows: pl.DataFrame, *, operation: Operation
) -> str:
    """The chunk's query; the filters no row of the chunk uses are left out, as they cost time.

    A rejected row joins nothing: its ``reason`` is the join's first condition.

    A key lookup's country is compared as a range (``>=`` and ``<=``: equality, for text), so
    that DuckDB joins on the foreign key alone and checks the country as it joins. On one
    column, it skips the links whose key is not in the chunk (a Bloom filter of the chunk's
    keys, applied as it scans them); on two equalities it probes its hash table with every
    link: 1M rows against 20M links took 1.0 s a chunk, and take 0.6 s. Joining on the key
    alone and dropping the other countries' links afterwards would hand them all over first:
    as many rows again as other countries give the same keys.
    """
    replaced = operation is Operation.LOOKUP_INSZ and _has_replacements(connection)
    if operation is Operation.LOOKUP_INSZ:
        match = f"l.insz = r.{'target_insz' if replaced else 'insz_int'}"
        if rows["country"].null_count() < rows.height:
            match += " AND (r.country IS NULL OR l.country = r.country)"
    else:
        match = (
            "l.foreign_key = r.foreign_key AND l.country >= r.country AND l.country <= r.country"
        )
    if rows["key_type"].null_count() < rows.height:
        match += " AND (r.key_type IS NULL OR l.key_type = r.key_type)"
    if rows["recorded_at_ts"].null_count() < rows.height:
        match += f" AND {known_at('l', 'r.recorded_at_ts')}"
    else:
        match += " AND l.recorded_to IS NULL"
    day = "coalesce(r.as_of_d, $today)" if rows["as_of_d"].null_count() < rows.height else "$today"
    match += f" AND {valid_on('l', day)}"
    if rows["reason"].null_count() < rows.height:
        match = f"r.reason IS NULL AND {match}"
    # A found link hands over what its request row did not ask for: a key lookup's country
    # and key are the link's (the answer echoes them), an INSZ lookup's INSZ too (or its
    # replacement). Each column of the links found costs DuckDB its fetch and its Arrow copy:
    # at 20M links, a 500k-row chunk's join takes 0.10 s, and handing over the links' columns
    # 0.12 s more (the foreign keys 0.055 s, the INSZ 0.014 s). Without a replaced INSZ in the
    # store, the INSZ answered is the INSZ asked, and no column says which rows were replaced.
    if operation is Operation.LOOKUP_INSZ:
        other = ", l.country AS link_country, l.foreign_key AS link_foreign_key"
    else:
        other = ", l.insz AS link_insz"
    columns = f"""r.{_POSITION}, l.link_id, l.key_type AS link_key_type,
               l.valid_from AS link_valid_from, l.valid_to AS link_valid_to{other}"""
    if not replaced:
        return f"SELECT {columns} FROM {_CHUNK} r LEFT JOIN links l ON {match}"
    return f"""
        WITH asked AS ({_ASKED_WITH_REPLACEMENTS})
        SELECT {columns}, r.replaced, r.target_insz FROM asked r LEFT JOIN links l ON {match}
    """


# Each row's INSZ number, or the number that replaced it (``target_insz``, ``replaced``) if
# the replacement was recorded by the row's record time.
_ASKED_WITH_REPLACEMENTS = f"""
    SELECT r.*, coalesce(x.new_insz, r.insz_int) AS target_insz,
           x.new_insz IS NOT NULL AS replaced
    FROM {_CHUNK} r LEFT JOIN insz_replacements x
      ON r.reason IS NULL AND x.old_insz = r.insz_int
     AND (r.recorded_at_ts IS NULL OR x.replaced_at <= r.recorded_at_ts)
"""


def _has_replacements(connection: duckdb.DuckDBPyConnection) -> bool:
    return connection.execute("SELECT EXISTS (FROM insz_replacements)").fetchall() == [(True,)]
