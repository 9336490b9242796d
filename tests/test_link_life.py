"""The life of a link: update, delete, report, history, as-of and recorded-at answers, dry runs."""

from __future__ import annotations

import datetime as dt
import time

import duckdb
import polars as pl
import pytest

from pipeline import utc_now
from pipeline.admin import replace_insz, resolve_report, review_queue
from pipeline.config import load_settings
from pipeline.intake import claim, scan_inbox
from pipeline.run import _new_processor, store_options
from pipeline.store import opened
from tests.conftest import BSN_A, BSN_B, INSZ_1990, INSZ_2001, INSZ_BIS, receipt, result_csv

LINK = "insz,country,key_type,foreign_key,valid_from,valid_to\n"


def store_rows(root, sql):
    with duckdb.connect(str(root / "data" / "linkreg.duckdb"), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture
def linked(root, drop, run):
    drop(
        "KSZ",
        "create",
        "base.csv",
        LINK + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2020-01-01,\n"
        f"{INSZ_BIS},FR,PASSPORT,P1234567,,\n",
    )
    run()
    return root


@pytest.mark.parametrize("chunk_rows", [1_000_000, 2], ids=["one range", "ranges of 2 rows"])
def test_update_sets_the_period_and_keeps_the_previous_version(
    linked, drop, run, monkeypatch, chunk_rows
):
    """Staged, and its result written, a range of rows at a time, the answer is the same."""
    from pipeline import chunks

    monkeypatch.setattr(chunks, "CHUNK_ROWS", chunk_rows)
    drop(
        "RVA",
        "update",
        "periods.csv",
        LINK + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2020-01-01,2024-12-31\n"
        f"{INSZ_BIS},FR,PASSPORT,P1234567,,\n"
        f"{INSZ_BIS},FR,PASSPORT,P7654321,,\n",
    )
    run()
    result = result_csv(linked, "RVA", "update", "periods")
    assert result.select("status", "valid_to").rows() == [
        ("UPDATED", "2024-12-31"),
        ("UNCHANGED", None),
        ("NOT_FOUND", None),
    ]
    assert result["message"][0] == "previous period: 2020-01-01 to open"
    versions = store_rows(
        linked,
        f"SELECT version, valid_to, recorded_to IS NULL, change FROM links"
        f" WHERE foreign_key = '{BSN_A}' ORDER BY version",
    )
    assert versions == [(1, None, False, "CREATE"), (2, dt.date(2024, 12, 31), True, "UPDATE")]


@pytest.mark.parametrize(
    ("first", "second"),
    [(("KSZ", "create"), ("KSZ", "update")), (("KSZ", "update"), ("RVA", "create"))],
    ids=["create, then update", "update, then create"],
)
def test_a_create_and_an_update_in_one_pass_both_answer_their_rows(root, drop, run, first, second):
    """A pass answers files of any operations in turn, on one connection: each file's model
    names its reasons, whichever was validated first, and each file's answer replaces the one
    before, a view or a table (the second file was refused whole, as UNREADABLE_FILE)."""
    drop(*first, "first.csv", LINK + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2020-01-01,\n")
    drop(*second, "second.csv",
         LINK + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2021-01-01,\n"
         f"{INSZ_1990},XX,TAX_NUMBER,{BSN_A},2021-01-01,\n")  # fmt: skip
    run()

    for (institution, operation), name in ((first, "first"), (second, "second")):
        assert receipt(root, institution, operation, name)["status"] == "ACCEPTED"
    result = result_csv(root, *second, "second")
    assert result.select("reason").to_series().to_list() == [None, "INVALID_COUNTRY"]


def test_one_pass_answers_a_file_of_every_operation_in_turn(linked, drop, run):
    """Files of every operation, each with a bad row, in one pass on one connection: what one
    file leaves behind (its models, its temporary tables and views) does not spoil the next."""
    bad = f"{INSZ_1990},XX,TAX_NUMBER,{BSN_A}"
    with_reason = LINK.replace("valid_from,valid_to", "reason")
    files = {
        "create": LINK + f"{INSZ_2001},NL,TAX_NUMBER,{BSN_B},2020-01-01,\n{bad},2020-01-01,\n",
        "delete": with_reason + f"{INSZ_BIS},FR,PASSPORT,P1234567,gone\n{bad},x\n",
        "lookup-insz": f"insz\n{INSZ_1990}\n90010100124\n",
        "lookup-key": f"country,foreign_key\nNL,{BSN_A}\nXX,{BSN_A}\n",
        "report": with_reason + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},odd\n{bad},x\n",
        "update": LINK + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2020-01-01,2030-12-31\n{bad},,\n",
    }
    for operation, content in files.items():
        drop("KSZ", operation, "mixed.csv", content)
    drop("KSZ", "formats", "mixed.csv", "country\nNL\n")
    run()

    for operation in (*files, "formats"):
        assert receipt(linked, "KSZ", operation, "mixed")["status"] == "ACCEPTED", operation
    for operation in files:
        statuses = result_csv(linked, "KSZ", operation, "mixed")["status"].to_list()
        assert statuses[0] != "REJECTED" and statuses[-1] == "REJECTED", (operation, statuses)


@pytest.mark.parametrize("most_in_memory", [1_000_000, 0], ids=["in memory", "in a file"])
def test_a_file_leaves_no_temporary_table_behind(root, drop, settings, monkeypatch, most_in_memory):
    """A ``watch`` answers file after file on one connection: a load's staged request (264 MB
    at 2M rows) stayed in memory, or in the temporary folder, until the next file. A load
    staged in a database file of its own lets it go too."""
    monkeypatch.setattr("pipeline.chunks.STAGED_IN_MEMORY_ROWS", most_in_memory)
    drop("KSZ", "create", "new.csv", LINK + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2020-01-01,\n")
    drop("KSZ", "update", "periods.csv", LINK + f"{INSZ_1990},XX,TAX_NUMBER,{BSN_A},,\n")
    with opened(store_options(settings)) as connection:
        processor = _new_processor(
            settings, connection, today=dt.date.today(), clock=utc_now, progress=None
        )
        now = utc_now()
        claimed = [claim(found, settings, now=now) for found in scan_inbox(settings, now=now)]
        reports = [processor.process(file) for file in claimed if file is not None]
        left = connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE temporary UNION ALL"
            " SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal UNION ALL"
            " SELECT database_name FROM duckdb_databases() WHERE NOT internal"
            " AND database_name <> current_database()"
        ).fetchall()

    assert [report.status.value for report in reports] == ["ACCEPTED", "ACCEPTED"]
    assert left == []
    assert [p.name for p in settings.work.iterdir() if p.name != ".lock"] == []


def test_a_link_named_twice_is_changed_once(linked, drop, run):
    """The later row is a duplicate; every row echoes its INSZ as 11 digits, leading zero kept."""
    drop(
        "RVA",
        "update",
        "twice.csv",
        LINK + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2021-01-01,\n"
        f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2022-01-01,\n"
        f"{INSZ_2001},NL,TAX_NUMBER,{BSN_B},,\n",
    )
    run()
    result = result_csv(linked, "RVA", "update", "twice")
    assert result.select("status", "reason", "insz", "valid_from").rows() == [
        ("UPDATED", None, INSZ_1990, "2021-01-01"),
        ("REJECTED", "DUPLICATE_IN_FILE", INSZ_1990, "2022-01-01"),
        ("NOT_FOUND", None, INSZ_2001, None),
    ]
    assert INSZ_2001.startswith("0")
    assert result["message"][1] == "the same link as row 1"


def test_recorded_at_reproduces_an_earlier_answer(linked, drop, run):
    before = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    time.sleep(0.01)
    drop(
        "KSZ",
        "delete",
        "gone.csv",
        LINK.replace("valid_from,valid_to", "reason")
        + f"{INSZ_BIS},FR,PASSPORT,P1234567,wrong person\n",
    )
    run()
    assert receipt(linked, "KSZ", "delete", "gone")["counts"]["status"] == {"DELETED": 1}
    drop("RVA", "lookup-insz", "now.csv", f"insz,recorded_at\n{INSZ_BIS},\n{INSZ_BIS},{before}\n")
    run()
    result = result_csv(linked, "RVA", "lookup-insz", "now")
    assert result.select("row", "status", "foreign_key").rows() == [
        ("1", "NOT_FOUND", None),
        ("2", "FOUND", "P1234567"),
    ]


def test_delete_is_for_the_administrator_only(linked, drop, run):
    drop("RVA", "delete", "try.csv", "insz,country,key_type,foreign_key,reason\n")
    run()
    assert receipt(linked, "RVA", "delete", "try")["reason"] == "OPERATION_NOT_ALLOWED"


def test_delete_needs_a_reason(linked, drop, run):
    drop(
        "KSZ",
        "delete",
        "noreason.csv",
        f"insz,country,key_type,foreign_key,reason\n{INSZ_BIS},FR,PASSPORT,P1234567,\n",
    )
    run()
    result = result_csv(linked, "KSZ", "delete", "noreason")
    assert result.select("status", "reason", "message").row(0) == (
        "REJECTED",
        "MISSING_VALUE",
        "`reason` is empty",
    )


def test_report_lands_in_the_review_queue_and_is_resolved(linked, drop, run):
    drop(
        "RVA",
        "report",
        "doubt.csv",
        f"insz,country,key_type,foreign_key,reason\n{INSZ_1990},NL,TAX_NUMBER,{BSN_A},not this person\n{INSZ_2001},NL,TAX_NUMBER,{BSN_A},unknown link\n",
    )
    run()
    result = result_csv(linked, "RVA", "report", "doubt")
    assert result["status"].to_list() == ["REPORTED", "NOT_FOUND"]
    settings = load_settings(linked)
    queue = review_queue(settings)
    assert queue.select("institution", "reason", "insz", "state").rows() == [
        ("RVA", "not this person", INSZ_1990, "OPEN")
    ]
    state = resolve_report(
        settings, int(queue["report_id"][0]), delete=True, note="checked", institution="KSZ"
    )
    assert state == "DELETED"
    assert review_queue(settings).height == 0
    assert store_rows(
        linked, f"SELECT count(*) FROM links WHERE foreign_key = '{BSN_A}' AND recorded_to IS NULL"
    ) == [(0,)]


def test_overlapping_periods_for_one_at_a_time_key_types(linked, drop, run):
    drop(
        "KSZ",
        "create",
        "second-bsn.csv",
        LINK + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_B},2023-01-01,\n"  # overlaps the open BSN_A link
        f"{INSZ_1990},NL,PASSPORT,NP1234567,2023-01-01,\n",  # passports may overlap
    )
    run()
    result = result_csv(linked, "KSZ", "create", "second-bsn")
    assert result.select("status", "reason").rows() == [
        ("CONFLICT", "PERIOD_OVERLAP"),
        ("CREATED", None),
    ]


def test_dry_run_of_a_mutation_leaves_the_store_unchanged(linked, drop, run):
    before = store_rows(linked, "SELECT * FROM links ORDER BY ALL")
    ledger = store_rows(linked, "SELECT count(*) FROM batches WHERE NOT dry_run")
    content = (
        LINK.replace("valid_from,valid_to", "reason") + f"{INSZ_BIS},FR,PASSPORT,P1234567,test\n"
    )
    drop("KSZ", "delete", "try.dry-run.csv", content)
    run()
    assert result_csv(linked, "KSZ", "delete", "try.dry-run")["status"].to_list() == ["DELETED"]
    assert receipt(linked, "KSZ", "delete", "try.dry-run")["dry_run"] is True
    assert store_rows(linked, "SELECT * FROM links ORDER BY ALL") == before
    assert store_rows(linked, "SELECT count(*) FROM batches WHERE NOT dry_run") == ledger
    drop("KSZ", "delete", "real.csv", content)  # same content, not a dry run: not a duplicate
    run()
    assert receipt(linked, "KSZ", "delete", "real")["status"] == "ACCEPTED"


def test_process_dry_run_flag(linked, drop, run):
    drop("KSZ", "create", "flag.csv", LINK + f"{INSZ_2001},NL,PASSPORT,NP7654321,,\n")
    run(dry_run=True)
    assert receipt(linked, "KSZ", "create", "flag")["dry_run"] is True
    assert store_rows(linked, "SELECT count(*) FROM links WHERE foreign_key = 'NP7654321'") == [
        (0,)
    ]


def test_replaced_insz_answers_with_the_new_number(linked, drop, run):
    settings = load_settings(linked)
    assert replace_insz(settings, old=INSZ_BIS, new=INSZ_2001, institution="KSZ") == 1
    drop("RVA", "lookup-insz", "old.csv", f"insz\n{INSZ_BIS}\n")
    run()
    result = result_csv(linked, "RVA", "lookup-insz", "old")
    assert result.select("status", "reason", "insz", "foreign_key").rows() == [
        ("FOUND", "INSZ_REPLACED", INSZ_2001, "P1234567")
    ]
    [audit] = (linked / "audit").rglob("*.parquet")  # the old number was asked, the new answered
    assert pl.read_parquet(audit).select("insz", "found_insz").rows() == [(INSZ_BIS, INSZ_2001)]
    drop("RVA", "create", "old.csv", LINK + f"{INSZ_BIS},NL,PASSPORT,NP5555555,,\n")
    run()
    assert result_csv(linked, "RVA", "create", "old")["reason"].to_list() == ["INSZ_REPLACED"]
