"""``lookup-insz`` and ``lookup-key`` end to end: filters, dates, formats, echoes."""

from __future__ import annotations

import datetime as dt
import logging

import polars as pl
import pytest

from pipeline.consult import LookupQuery, lookup
from tests.conftest import BSN_A, BSN_B, INSZ_1990, INSZ_2001, INSZ_BIS, receipt, result_csv

LINKS = (
    "insz,country,key_type,foreign_key,valid_from,valid_to\n"
    f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},,\n"
    f"{INSZ_1990},FR,PASSPORT,P1234567,2010-01-01,2015-12-31\n"
    f"{INSZ_1990},DE,PASSPORT,C01X00T47,2016-01-01,\n"
    f"{INSZ_BIS},NL,NATIONAL_NUMBER,{BSN_B},,\n"
)


@pytest.fixture
def loaded(root, drop, run):
    drop("KSZ", "create", "links.csv", LINKS)
    [report] = run()
    assert report.counts["status"] == {"CREATED": 4}
    return root


def test_lookup_insz_semicolon_bom_and_printed_insz(loaded, drop, run):
    content = (
        "\ufeffINSZ;Country;ref\n"
        "90.01.01-001.23;;mine\n"  # formatted INSZ, no filter: the links valid today
        f"{INSZ_1990};fr;fr-only\n"  # lower-case country filter; the FR link expired
        f"{INSZ_2001};;nobody\n"
        "90010100124;;typo\n"
    )
    drop("RVA", "lookup-insz", "night.csv", content)
    run()
    result = result_csv(loaded, "RVA", "lookup-insz", "night", separator=";")
    assert result.columns == [
        "row",
        "ref",
        "status",
        "reason",
        "message",
        "insz",
        "country",
        "key_type",
        "foreign_key",
        "valid_from",
        "valid_to",
    ]
    # request order; the links of one row in the order they were created
    assert result.select("row", "ref", "status", "country").rows() == [
        ("1", "mine", "FOUND", "NL"),
        ("1", "mine", "FOUND", "DE"),
        ("2", "fr-only", "NOT_FOUND", "FR"),
        ("3", "nobody", "NOT_FOUND", None),
        ("4", "typo", "REJECTED", None),
    ]
    assert result["insz"][0] == INSZ_1990
    document = receipt(loaded, "RVA", "lookup-insz", "night")
    assert document["rows"] == 4
    assert sum(document["counts"]["status"].values()) == 4


def test_lookup_insz_as_of_and_key_type(loaded, drop, run):
    drop(
        "RVA",
        "lookup-insz",
        "asof.csv",
        f"insz,as_of,key_type\n{INSZ_1990},2012-06-30,\n{INSZ_1990},2012-06-30,TAX_NUMBER\n",
    )
    run()
    result = result_csv(loaded, "RVA", "lookup-insz", "asof")
    assert result.select("row", "country", "valid_to").rows() == [
        ("1", "NL", None),
        ("1", "FR", "2015-12-31"),
        ("2", "NL", None),
    ]


def test_lookup_key_parquet_in_parquet_out(loaded, drop, run, tmp_path):
    request = pl.DataFrame(
        {
            "country": ["NL", "nl", "NL", "FR"],
            "foreign_key": [BSN_A, "123.456.782", "999999999", "x"],
            "ref": ["a", "b", "c", "d"],
        }
    )
    path = tmp_path / "keys.parquet"
    request.write_parquet(path)
    drop("RVA", "lookup-key", "keys.parquet", path.read_bytes())
    run()
    result = pl.read_parquet(loaded / "outbox" / "RVA" / "lookup-key" / "keys.result.parquet")
    assert result.select("ref", "status", "insz").rows() == [
        ("a", "FOUND", INSZ_1990),
        ("b", "FOUND", INSZ_1990),
        ("c", "NOT_FOUND", None),  # not a BSN: taken as another NL key
        ("d", "REJECTED", None),
    ]
    assert result["reason"].to_list()[3] == "INVALID_KEY_FORMAT"


def test_lookup_key_answers_the_country_asked_of_a_key_several_countries_gave(
    loaded, drop, run, settings
):
    """The key join runs on the key alone: the key's links in other countries are left out,
    and a row that finds the key in other countries only is NOT_FOUND, once. A row with two
    links in the country asked keeps both, in the order they were created; a rejected row in
    the same chunk finds nothing. The terminal lookup answers the same."""
    drop(
        "KSZ",
        "create",
        "more.csv",
        "insz,country,key_type,foreign_key\n"
        f"{INSZ_BIS},GB,PASSPORT,C01X00T47\n"  # the key of INSZ_1990's DE passport
        f"{INSZ_2001},AT,PASSPORT,C01X00T47\n"
        f"{INSZ_1990},DE,IDENTITY_CARD,C01X00T47\n",  # a second DE link with that key
    )
    run()
    drop(
        "RVA",
        "lookup-key",
        "shared.csv",
        "country,foreign_key,ref\nDE,C01X00T47,de\nIT,C01X00T47,it\nGB,C01X00T47,gb\n"
        "XX,C01X00T47,bad\nat,c01x00t47,at\n",
    )
    run()
    result = result_csv(loaded, "RVA", "lookup-key", "shared")
    assert result.select("row", "ref", "status", "insz", "country", "key_type").rows() == [
        ("1", "de", "FOUND", INSZ_1990, "DE", "PASSPORT"),
        ("1", "de", "FOUND", INSZ_1990, "DE", "IDENTITY_CARD"),
        ("2", "it", "NOT_FOUND", None, "IT", None),
        ("3", "gb", "FOUND", INSZ_BIS, "GB", "PASSPORT"),
        ("4", "bad", "REJECTED", None, "XX", None),
        ("5", "at", "FOUND", INSZ_2001, "AT", "PASSPORT"),
    ]
    assert receipt(loaded, "RVA", "lookup-key", "shared")["counts"]["status"] == {
        "FOUND": 3,  # request rows
        "NOT_FOUND": 1,
        "REJECTED": 1,
    }
    terminal = lookup(settings, LookupQuery(country="it", foreign_key="C01X00T47"))
    assert terminal.select("status", "country").rows() == [("NOT_FOUND", "IT")]


def test_lookups_are_audited(loaded, drop, run):
    drop("RVA", "lookup-insz", "audit.csv", f"insz\n{INSZ_1990}\n{INSZ_2001}\n")
    [report] = run()
    files = list((loaded / "audit").rglob(f"{report.batch_id}.parquet"))
    assert len(files) == 1
    audit = (
        pl.read_parquet(files[0])
        .group_by("row", "institution", "insz")
        .agg(pl.col("found").sum().alias("answers"))
    )
    assert audit.sort("row").select("institution", "insz", "answers").rows() == [
        ("RVA", INSZ_1990, 2),
        ("RVA", INSZ_2001, 0),
    ]
    assert pl.read_parquet(files[0])["at"][0].date() <= dt.datetime.now(dt.UTC).date()
    # A link found has the INSZ asked: only a replaced INSZ tells the one found (test_link_life).
    assert pl.read_parquet(files[0])["found_insz"].null_count() == 3


def test_the_batch_log_gives_the_seconds_of_each_stage(loaded, drop, run, caplog):
    drop("RVA", "lookup-insz", "timed.csv", f"insz\n{INSZ_1990}\n")
    with caplog.at_level(logging.INFO, logger="pipeline.processor"):
        [report] = run()
    [line] = [r.getMessage() for r in caplog.records if " stages: " in r.getMessage()]
    assert line.startswith(f"batch {report.batch_id} stages: ")
    stages = dict(part.rsplit(" ", 2)[:2] for part in line.split(" stages: ")[1].split(", "))
    assert set(stages) == {"read", "validate", "join", "output wait", "assemble", "write", "audit"}
    assert all(float(seconds) >= 0 for seconds in stages.values())


def test_lookup_key_audit_names_the_key_and_the_insz_answered(loaded, drop, run):
    drop("RVA", "lookup-key", "keys.csv", f"country,foreign_key\nnl,{BSN_A}\nNL,999999999\n")
    [report] = run()
    [audit] = (loaded / "audit").rglob(f"{report.batch_id}.parquet")
    assert pl.read_parquet(audit).select(
        "operation", "row", "insz", "country", "foreign_key", "found", "found_insz"
    ).sort("row").rows() == [
        ("lookup-key", 1, None, "NL", BSN_A, True, INSZ_1990),
        ("lookup-key", 2, None, "NL", "999999999", False, None),
    ]


def test_header_only_file_is_answered_with_an_empty_result(loaded, drop, run):
    drop("RVA", "lookup-insz", "empty.csv", "insz\n")
    run()
    assert result_csv(loaded, "RVA", "lookup-insz", "empty").height == 0
    assert receipt(loaded, "RVA", "lookup-insz", "empty")["rows"] == 0


def test_progress_hook_sees_rows_grow(loaded, drop):
    from pipeline.config import load_settings
    from pipeline.run import process_inbox

    drop("RVA", "lookup-insz", "many.csv", "insz\n" + f"{INSZ_1990}\n" * 5)
    seen = []
    process_inbox(
        load_settings(loaded), settle_seconds=0, progress=lambda *event: seen.append(event)
    )
    assert [(name, rows) for _, name, _, rows in seen] == [("many.csv", 5)]


def test_marker_institution_waits_for_the_done_file(loaded, drop, run):
    config = loaded / "linkreg.toml"
    config.write_text(
        config.read_text().replace("[institutions.ONEM]\n", "[institutions.ONEM]\nmarker = true\n")
    )
    drop("ONEM", "lookup-insz", "night.csv", f"insz\n{INSZ_1990}\n")
    assert run() == [], "no marker yet: the file waits"
    drop("ONEM", "lookup-insz", "night.csv.done", "")
    [report] = run()
    assert report.status == "ACCEPTED"
    assert not list((loaded / "inbox" / "ONEM" / "lookup-insz").iterdir()), "marker consumed"


MANY = (
    "insz,ref\n"
    f"{INSZ_2001},a\n"  # no link
    f"{INSZ_1990},b\n"  # two links valid today
    "1234,c\n"  # rejected
    f"{INSZ_BIS},d\n"
    f"{INSZ_1990},e\n"
)


def test_a_lookup_in_several_chunks_answers_as_one(loaded, drop, run, monkeypatch):
    """Chunks are answered one by one: the result is in request order and counted once."""
    from pipeline import chunks

    drop("RVA", "lookup-insz", "whole.csv", MANY)
    run()
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 2)
    drop("RVA", "lookup-insz", "chunked.csv", MANY.replace(",a\n", ",a \n"))  # other content
    run()
    whole = result_csv(loaded, "RVA", "lookup-insz", "whole")
    chunked = result_csv(loaded, "RVA", "lookup-insz", "chunked")
    assert chunked.drop("ref").equals(whole.drop("ref"))
    assert chunked["row"].to_list() == ["1", "2", "2", "3", "4", "5", "5"]
    assert receipt(loaded, "RVA", "lookup-insz", "chunked")["counts"] == {
        "status": {"FOUND": 3, "NOT_FOUND": 1, "REJECTED": 1},
        "reason": {"INVALID_INSZ": 1},
    }


FILTERED_NOW_AND_THEN = (
    "insz,country,key_type,as_of,ref\n"
    f"{INSZ_1990},,,,a\n"  # a chunk without filters
    f"{INSZ_1990},,,,b\n"
    f"{INSZ_1990},de,,,c\n"  # a chunk with a country filter, a key type and a date
    f"{INSZ_1990},,TAX_NUMBER,2012-06-30,d\n"
    "1234,FR,PASSPORT,2012-06-30,e\n"  # rejected, its filters echoed
    f"{INSZ_2001},NL,,,f\n"
    "1234,,,,g\n"  # rejected, alone in its chunk
)


def test_chunks_with_and_without_filters_answer_as_one(loaded, drop, run, monkeypatch):
    """A chunk whose rows leave a request column empty skips it (``lookups._answers``); its
    answers are those the whole file gets, where other rows fill that column."""
    from pipeline import chunks

    drop("RVA", "lookup-insz", "whole.csv", FILTERED_NOW_AND_THEN)
    run()
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 2)
    other = FILTERED_NOW_AND_THEN.replace(",a\n", ",a \n")  # other content, the same rows
    drop("RVA", "lookup-insz", "chunked.csv", other)
    run()
    whole = result_csv(loaded, "RVA", "lookup-insz", "whole")
    chunked = result_csv(loaded, "RVA", "lookup-insz", "chunked")
    assert chunked.drop("ref").equals(whole.drop("ref"))
    assert whole.select("ref", "status", "country", "key_type", "valid_to").rows() == [
        ("a", "FOUND", "NL", "TAX_NUMBER", None),
        ("a", "FOUND", "DE", "PASSPORT", None),
        ("b", "FOUND", "NL", "TAX_NUMBER", None),
        ("b", "FOUND", "DE", "PASSPORT", None),
        ("c", "FOUND", "DE", "PASSPORT", None),
        ("d", "FOUND", "NL", "TAX_NUMBER", None),
        ("e", "REJECTED", "FR", "PASSPORT", None),
        ("f", "NOT_FOUND", "NL", None, None),
        ("g", "REJECTED", None, None, None),
    ]


@pytest.mark.parametrize(
    ("operation", "column", "most"), [("lookup-insz", "insz", 4), ("lookup-key", "key", 8)]
)
def test_a_lookups_chunks_grow_with_the_store(
    loaded, drop, run, monkeypatch, operation, column, most
):
    """Half ``CHUNK_ROWS`` on a small store, more rows a chunk as the store grows (each chunk's
    join scans the links again), up to a bound by operation."""
    from pipeline import chunks
    from pipeline.contract import Operation

    monkeypatch.setattr(chunks, "CHUNK_ROWS", 4)
    monkeypatch.setitem(chunks.LOOKUP_CHUNKS, Operation(operation), (1, most // 4))
    rows_so_far: list[int] = []

    def progress(batch_id, file_name, size, rows):
        rows_so_far.append(rows)

    if column == "insz":
        request = "insz\n" + f"{INSZ_1990}\n" * 9
    else:
        request = "country,foreign_key\n" + f"NL,{BSN_A}\n" * 9
    drop("RVA", operation, "small.csv", request)
    run(progress=progress)
    assert rows_so_far == [4, 8, 9], "4 links: chunks of 4 rows"
    more = (
        f"{INSZ_2001},NL,PASSPORT,NP1111111,,\n{INSZ_2001},FR,PASSPORT,P2222222,,\n"
        f"{INSZ_2001},FR,PASSPORT,P7654321,,\n{INSZ_2001},NL,PASSPORT,NP3333333,,\n"
        f"{INSZ_2001},NL,PASSPORT,NP4444444,,\n"
    )
    drop("KSZ", "create", "more.csv", LINKS.splitlines(keepends=True)[0] + more)
    [report] = run()
    assert report.counts["status"] == {"CREATED": 5}
    rows_so_far.clear()
    drop("RVA", operation, "large.csv", request + request.splitlines(keepends=True)[1])
    run(progress=progress)
    assert rows_so_far == ([4, 8, 10] if most == 4 else [8, 10]), "9 links"


NEW_LINK = f"{INSZ_2001},NL,PASSPORT,NP1111111,,\n"  # 36 bytes


@pytest.mark.parametrize(
    ("chunk_rows", "links_per_row", "calls"),
    [
        (10, 1, [5, 4, 1]),  # 7 answers, 5 at most: counted, then cut before the 5th row
        (2, 1000, [1, 1, 1, 1, 1, 1, 1]),  # a row of 2 answers, 1 at most: its links whole
    ],
    ids=["a chunk in pieces", "one row, whole"],
)
def test_a_chunk_that_finds_too_many_links_is_answered_in_pieces(
    loaded, drop, run, monkeypatch, chunk_rows, links_per_row, calls
):
    """At most ``MOST_FOUND_PER_ROW`` links a chunk row are found at once: a chunk that asks
    often for people with many links is cut where its answers pass that, so that memory follows
    its answers too. The result is the one of a single join."""
    from pipeline import chunks
    from pipeline.contract import Operation
    from pipeline.operations import lookups

    drop("RVA", "lookup-insz", "whole.csv", MANY)
    run()
    monkeypatch.setattr(chunks, "CHUNK_ROWS", chunk_rows)  # chunks of half as many rows
    monkeypatch.setitem(chunks.LOOKUP_CHUNKS, Operation.LOOKUP_INSZ, (links_per_row, 1))
    monkeypatch.setattr(chunks, "MOST_FOUND_PER_ROW", 1)
    original = lookups.found_links
    joined: list[int] = []

    def counted(connection, rows, **options):
        joined.append(rows.height)
        return original(connection, rows, **options)

    monkeypatch.setattr(lookups, "found_links", counted)
    _answered_as_the_whole(loaded, drop, run)
    assert joined == calls


def _answered_as_the_whole(root, drop, run) -> None:
    """``MANY`` again (other content: not a duplicate) is answered as ``whole.csv`` was."""
    drop("RVA", "lookup-insz", "pieces.csv", MANY.replace(",a\n", ",a \n"))
    run()
    whole = result_csv(root, "RVA", "lookup-insz", "whole")
    pieces = result_csv(root, "RVA", "lookup-insz", "pieces")
    assert pieces.drop("ref").equals(whole.drop("ref"))
    assert pieces["row"].to_list() == ["1", "2", "2", "3", "4", "5", "5"]


@pytest.mark.parametrize(
    ("most", "pieces"),
    [(1, [1, 2, 1, 1, 2]), (2, [1, 2, 2, 2]), (3, [3, 2, 2]), (7, [7])],
)
def test_a_chunk_is_answered_in_pieces_of_at_most_so_many_answers(
    loaded, drop, run, monkeypatch, most, pieces
):
    """The answers of a chunk are made and written a piece at a time: a piece has at most
    ``ANSWER_PIECE_ROWS`` answers, unless one row has more; a row's answers stay together.
    The result is the one of a single piece."""
    from pipeline import chunks
    from pipeline.operations import lookups

    drop("RVA", "lookup-insz", "whole.csv", MANY)
    run()
    monkeypatch.setattr(chunks, "ANSWER_PIECE_ROWS", most)
    original = lookups._answers
    made: list[int] = []

    def counted(rows, found, **options):
        answers = original(rows, found, **options)
        made.append(answers.height)
        return answers

    monkeypatch.setattr(lookups, "_answers", counted)
    _answered_as_the_whole(loaded, drop, run)
    assert made == pieces


@pytest.mark.parametrize(
    ("operation", "request_text", "rows_by_chunk"),
    [
        ("lookup-key", "country,foreign_key\n" + f"NL,{BSN_A}\n" * 9, [7, 9]),  # 13 bytes
        ("lookup-key", "country,foreign_key\n" + f"NL,NL/BE/{'A' * 45}\n" * 2, [1, 2]),
        ("create", LINKS.splitlines(keepends=True)[0] + NEW_LINK * 5, [2, 4, 5]),
    ],
    ids=["short keys", "a long key", "a load"],
)
def test_wide_rows_make_chunks_of_fewer_rows(
    loaded, drop, run, monkeypatch, operation, request_text, rows_by_chunk
):
    """At most ``CHUNK_BYTES`` of the request a chunk (an eIDAS identifier may have 256
    characters): memory follows the chunk's bytes, not only its rows."""
    from pipeline import chunks

    monkeypatch.setattr(chunks, "CHUNK_BYTES", 100)
    rows_so_far: list[int] = []

    def progress(batch_id, file_name, size, rows):
        rows_so_far.append(rows)

    drop("KSZ", operation, "wide.csv", request_text)
    [report] = run(progress=progress)
    assert report.status == "ACCEPTED"
    assert rows_so_far == rows_by_chunk


@pytest.mark.parametrize(
    ("module", "owner", "name", "error"),
    [
        ("operations.lookups", None, "found_links", RuntimeError("the disk went away")),
        ("results", "_CsvWriter", "write", OSError("no space left on device")),
        ("audit", "ConsultationWriter", "write", OSError("no space left on device")),
    ],
    ids=["in the join", "in the result's write, in its thread", "in the audit, in its thread"],
)
def test_a_lookup_that_fails_part_way_leaves_no_result_and_no_audit(
    loaded, drop, run, monkeypatch, module, owner, name, error
):
    """The second chunk fails, on the main thread or in an output thread: the file is refused
    whole, and no chunk is answered after the failure."""
    import importlib

    from pipeline import chunks

    target = importlib.import_module(f"pipeline.{module}")
    target = getattr(target, owner) if owner else target
    original = getattr(target, name)
    calls = []

    def fail_on_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(chunks, "CHUNK_ROWS", 2)
    monkeypatch.setattr(target, name, fail_on_the_second_chunk)
    drop("RVA", "lookup-insz", "broken.csv", MANY)
    [report] = run()
    assert report.status == "REJECTED" and report.reason == "UNREADABLE_FILE"
    assert len(calls) == 2, "no chunk is answered after the failure"
    outbox = loaded / "outbox" / "RVA" / "lookup-insz"
    assert sorted(p.name for p in outbox.iterdir()) == ["broken.receipt.json"]
    assert not list((loaded / "audit").rglob(f"{report.batch_id}.parquet"))
    assert not [p for p in (loaded / "work").iterdir() if p.is_dir()]


def test_a_parquet_file_damaged_deep_inside_is_refused_whole(loaded, drop, run, monkeypatch):
    """Its first chunks are answered before the damaged page is read: they are not delivered."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline import chunks

    monkeypatch.setattr(chunks, "CHUNK_ROWS", 2)  # one-row chunks on this small store
    buffer = io.BytesIO()
    pq.write_table(pa.table({"insz": [INSZ_1990, INSZ_2001] * 3}), buffer, row_group_size=2)
    data = bytearray(buffer.getvalue())
    offset = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(2).column(0).data_page_offset
    data[offset : offset + 16] = b"\xff" * 16
    drop("RVA", "lookup-insz", "damaged.parquet", bytes(data))
    [report] = run()
    assert report.status == "REJECTED" and report.reason == "UNREADABLE_FILE"
    document = receipt(loaded, "RVA", "lookup-insz", "damaged")
    assert document["message"] == "the Parquet data after row 4 is corrupt: write the file again"
    outbox = loaded / "outbox" / "RVA" / "lookup-insz"
    assert sorted(p.name for p in outbox.iterdir()) == ["damaged.receipt.json"]
    assert not list((loaded / "audit").rglob(f"{report.batch_id}.parquet"))


def test_lookup_csv_gz_in_csv_gz_out(loaded, drop, run):
    import gzip

    drop("RVA", "lookup-insz", "night.csv.gz", gzip.compress(MANY.encode()))
    run()
    path = loaded / "outbox" / "RVA" / "lookup-insz" / "night.result.csv.gz"
    result = pl.read_csv(gzip.decompress(path.read_bytes()), infer_schema=False)
    assert result["ref"].to_list() == ["a", "b", "b", "c", "d", "e", "e"]


def test_a_duckdb_that_hands_plain_strings_gives_the_same_answers(loaded, drop, run, monkeypatch):
    """String views out of DuckDB are a speed-up only: without them, a lookup's result and its
    audit (Parquet, written from whichever text type comes) come out the same."""
    from pipeline import store

    drop("RVA", "lookup-insz", "views.csv", MANY)
    run()
    monkeypatch.setattr(store, "_hand_text_as_string_views", lambda connection: None)
    drop("RVA", "lookup-insz", "plain.csv", MANY.replace(",a\n", ",a \n"))  # other content
    run()
    views = result_csv(loaded, "RVA", "lookup-insz", "views")
    plain = result_csv(loaded, "RVA", "lookup-insz", "plain")
    assert plain.drop("ref").equals(views.drop("ref"))
    audits = [pl.read_parquet(path) for path in sorted((loaded / "audit").rglob("*.parquet"))]
    assert len(audits) == 2
    assert audits[0].drop("batch_id", "at").equals(audits[1].drop("batch_id", "at"))


@pytest.mark.parametrize(
    "dates",
    [
        [dt.date(2016, 1, 1), None, dt.date(2010, 1, 1), dt.date(2016, 1, 1)],
        [dt.date(1969, 12, 31), dt.date(1900, 1, 1), None],  # before 1970: negative days
        [dt.date(1, 1, 1), dt.date(2016, 1, 1), None, dt.date(9999, 12, 31)],  # far apart
        [None, None],
        [],
    ],
)
def test_the_dates_of_the_links_found_are_answered_as_iso_text(dates):
    """Formatted once per day of their span, or once per distinct date when they are far
    apart: either way each row has its own date's text."""
    from pipeline.operations.lookups import _as_text

    column = pl.Series("link_valid_from", dates, dtype=pl.Date)
    assert _as_text(column).to_list() == column.cast(pl.String).to_list()
    assert _as_text(column).name == "link_valid_from"
