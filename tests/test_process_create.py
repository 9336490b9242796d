"""``create`` end to end through the inbox: statuses, conflicts, duplicates, one transaction."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.admin import replace_insz
from pipeline.config import load_settings
from tests.conftest import BSN_A, BSN_B, INSZ_1990, INSZ_2001, INSZ_BIS, receipt, result_csv

HEADER = "insz,country,key_type,foreign_key,valid_from,valid_to,ref\n"


def store_rows(root: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "data" / "linkreg.duckdb"), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def links_in_store(root: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "data" / "linkreg.duckdb"), read_only=True) as connection:
        return connection.execute(
            "SELECT lpad(insz::varchar, 11, '0'), country, key_type, foreign_key, valid_from,"
            " valid_to FROM links WHERE recorded_to IS NULL ORDER BY ALL"
        ).fetchall()


def test_create_then_conflict_and_already_exists(root, drop, run):
    drop(
        "KSZ", "create", "first.csv", HEADER + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2020-01-01,,r1\n"
    )
    run()
    drop(
        "KSZ",
        "create",
        "second.csv",
        HEADER
        + f"{INSZ_2001},NL,TAX_NUMBER,{BSN_A},,,steal\n"  # the key belongs to INSZ_1990
        + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2020-01-01,,again\n"
        + f"{INSZ_2001},NL,PASSPORT,P1234567,,,new\n",
    )
    run()

    result = result_csv(root, "KSZ", "create", "second")
    assert result["status"].to_list() == ["CONFLICT", "ALREADY_EXISTS", "CREATED"]
    assert result["reason"].to_list() == ["KEY_LINKED_TO_OTHER_INSZ", None, None]
    assert result["ref"].to_list() == ["steal", "again", "new"]
    assert INSZ_1990 not in result.filter(result["row"] == "1").row(0), "the owner stays secret"
    assert len(links_in_store(root)) == 2
    document = receipt(root, "KSZ", "create", "second")
    assert document["status"] == "ACCEPTED"
    assert document["counts"] == {
        "status": {"ALREADY_EXISTS": 1, "CONFLICT": 1, "CREATED": 1},
        "reason": {"KEY_LINKED_TO_OTHER_INSZ": 1},
    }
    assert document["rows"] == 3


def test_same_key_for_two_insz_in_one_file_first_row_wins(root, drop, run):
    drop(
        "KSZ",
        "create",
        "pair.csv",
        HEADER
        + f"{INSZ_BIS},NL,NATIONAL_NUMBER,{BSN_B},,,\n{INSZ_2001},NL,NATIONAL_NUMBER,{BSN_B},,,\n",
    )
    run()
    result = result_csv(root, "KSZ", "create", "pair")
    assert result["status"].to_list() == ["CREATED", "CONFLICT"]
    assert links_in_store(root) == [(INSZ_BIS, "NL", "NATIONAL_NUMBER", BSN_B, None, None)]


def test_duplicate_rows_in_a_file_are_rejected_after_the_first(root, drop, run):
    line = f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2020-01-01,2030-12-31,\n"
    drop("KSZ", "create", "dups.csv", HEADER + line + line.replace(BSN_A, "123.456.782"))
    run()
    result = result_csv(root, "KSZ", "create", "dups")
    assert result["status"].to_list() == ["CREATED", "REJECTED"]
    assert result["reason"].to_list() == [None, "DUPLICATE_IN_FILE"]
    assert result["message"][1] == "the same link as row 1"
    assert result["valid_from"].to_list() == ["2020-01-01"] * 2, "a duplicate echoes its dates"
    assert result["valid_to"].to_list() == ["2030-12-31"] * 2


def test_every_row_reason(root, drop, run):
    rows = [
        f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},,,ok",
        f"90010100124,NL,TAX_NUMBER,{BSN_A},,,bad-insz",
        f"{INSZ_1990},BE,PASSPORT,P1234567,,,belgium",
        f"{INSZ_1990},XX,PASSPORT,P1234567,,,no-country",
        f"{INSZ_1990},FR,SHOE_SIZE,P1234567,,,key-type",
        f"{INSZ_1990},FR,PASSPORT,ABC,,,short-key",
        f"{INSZ_1990},FR,PASSPORT,=cmd(1),,,formula",
        f"{INSZ_1990},FR,PASSPORT,P7654321,2024-02-30,,bad-date",
        f"{INSZ_1990},FR,PASSPORT,P7654321,2024-05-01,2024-01-01,period",
        f"{INSZ_1990},,PASSPORT,P7654321,,,missing",
    ]
    drop("KSZ", "create", "reasons.csv", HEADER + "\n".join(rows) + "\n")
    run()
    result = result_csv(root, "KSZ", "create", "reasons")
    assert result["reason"].to_list() == [
        None,
        "INVALID_INSZ",
        "INVALID_COUNTRY",
        "INVALID_COUNTRY",
        "UNKNOWN_KEY_TYPE",
        "INVALID_KEY_FORMAT",
        "INVALID_KEY_FORMAT",
        "INVALID_DATE",
        "INVALID_PERIOD",
        "MISSING_VALUE",
    ]
    assert result["status"].to_list() == ["CREATED"] + ["REJECTED"] * 9
    assert result["message"][9] == "`country` is empty"
    assert result["valid_from"].to_list()[7:9] == ["2024-02-30", "2024-05-01"], "as sent"
    assert result["valid_to"][8] == "2024-01-01"
    assert "DEFAULT" in result["message"][5]
    assert len(links_in_store(root)) == 1


def test_a_date_of_year_zero_is_invalid_and_year_one_is_echoed_as_sent(root, drop, run):
    rows = [
        f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},0000-01-01,,zero",
        f"{INSZ_1990},FR,PASSPORT,P7654321,0001-01-01,9999-12-31,one",
    ]
    drop("KSZ", "create", "years.csv", HEADER + "\n".join(rows) + "\n")
    run()
    result = result_csv(root, "KSZ", "create", "years")
    assert result["reason"].to_list() == ["INVALID_DATE", None]
    assert result["valid_from"].to_list() == ["0000-01-01", "0001-01-01"]
    assert result["valid_to"][1] == "9999-12-31"


def test_redrop_of_the_same_content_is_a_duplicate(root, drop, run):
    content = HEADER + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},,,\n"
    drop("KSZ", "create", "load.csv", content)
    run()
    first = receipt(root, "KSZ", "create", "load")
    drop("KSZ", "create", "load.csv", content)
    [report] = run()

    assert report.status == "DUPLICATE"
    outbox = root / "outbox" / "KSZ" / "create"
    receipts = sorted(p.name for p in outbox.glob("*.receipt.json"))
    assert len(receipts) == 2, "the first receipt is never overwritten"
    second = receipt(root, "KSZ", "create", receipts[0].removesuffix(".receipt.json"))
    assert second["status"] == "DUPLICATE"
    assert second["batch_id"] == first["batch_id"] == second["duplicate_of"]
    assert len(links_in_store(root)) == 1
    assert len(list(outbox.glob("*.result.csv"))) == 1


def test_dry_run_changes_nothing(root, drop, run):
    drop("KSZ", "create", "try.dry-run.csv", HEADER + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},,,\n")
    run()
    result = result_csv(root, "KSZ", "create", "try.dry-run")
    assert result["status"].to_list() == ["CREATED"]
    assert receipt(root, "KSZ", "create", "try.dry-run")["dry_run"] is True
    assert links_in_store(root) == []


def test_input_is_archived_and_work_area_left_empty(root, drop, run):
    drop("KSZ", "create", "a.csv", HEADER + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},,,\n")
    [report] = run()
    archived = list((root / "archive" / "KSZ").rglob("a.csv"))
    assert len(archived) == 1 and report.batch_id in str(archived[0])
    assert [p.name for p in (root / "work").iterdir()] == [".lock"]
    assert not list((root / "inbox" / "KSZ" / "create").iterdir())


@pytest.mark.parametrize("chunk_rows", [1_000_000, 3], ids=["one chunk", "chunks of 3 rows"])
@pytest.mark.parametrize("most_in_memory", [1_000_000, 0], ids=["in memory", "in a file"])
@pytest.mark.parametrize("most_corrections", [1_000_000, 4], ids=["corrected", "sorted"])
def test_rows_that_concern_only_themselves_and_contested_rows_in_one_file(
    root, drop, run, monkeypatch, chunk_rows, most_in_memory, most_corrections
):
    """Each way a row can depend on the store or on other rows, beside plain new links; staged
    a chunk of rows at a time, or in a database file of its own, the answer is the same; and
    the same whether the result is read as staged with the contested rows' answers put in
    their place, or (more contested rows than that) sorted by ranges."""
    from pipeline import chunks
    from pipeline.operations import create

    monkeypatch.setattr(chunks, "CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(chunks, "STAGED_IN_MEMORY_ROWS", most_in_memory)
    monkeypatch.setattr(create, "MOST_CORRECTIONS", most_corrections)
    staged_in = record_staging(monkeypatch)
    drop(
        "KSZ",
        "create",
        "base.csv",
        HEADER + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2020-01-01,,\n"
        f"{INSZ_BIS},FR,PASSPORT,P1234567,,,\n",
    )
    run()
    replace_insz(load_settings(root), old=INSZ_BIS, new=INSZ_2001, institution="KSZ")
    next_id = store_rows(root, "SELECT next_link_id FROM store_state")[0][0]
    rows = [
        f"{INSZ_2001},NL,PASSPORT,NP1111111,,,new",
        f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A},2021-01-01,,exists",
        f"{INSZ_2001},NL,TAX_NUMBER,{BSN_A},,,owned-in-store",
        f"{INSZ_BIS},FR,PASSPORT,P7654321,,,replaced",
        f"{INSZ_1990},NL,TAX_NUMBER,{BSN_B},2022-01-01,,overlaps-store",
        f"{INSZ_2001},FR,PASSPORT,P2222222,,,first",
        f"{INSZ_2001},FR,PASSPORT,P2222222,,,again",
        f"{INSZ_1990},FR,PASSPORT,P2222222,,,owned-in-file",
        f"{INSZ_2001},NL,NATIONAL_NUMBER,100000009,2024-01-01,2024-12-31,slot",
        f"{INSZ_2001},NL,NATIONAL_NUMBER,100000010,2024-06-01,,overlaps-file",
        "90010100124,NL,PASSPORT,NP3333333,,,invalid",
    ]
    drop("KSZ", "create", "mixed.csv", HEADER + "\n".join(rows) + "\n")
    run()

    result = result_csv(root, "KSZ", "create", "mixed")
    assert result.select("ref", "status", "reason").rows() == [
        ("new", "CREATED", None),
        ("exists", "ALREADY_EXISTS", None),
        ("owned-in-store", "CONFLICT", "KEY_LINKED_TO_OTHER_INSZ"),
        ("replaced", "CONFLICT", "INSZ_REPLACED"),
        ("overlaps-store", "CONFLICT", "PERIOD_OVERLAP"),
        ("first", "CREATED", None),
        ("again", "REJECTED", "DUPLICATE_IN_FILE"),
        ("owned-in-file", "CONFLICT", "KEY_LINKED_TO_OTHER_INSZ"),
        ("slot", "CREATED", None),
        ("overlaps-file", "CONFLICT", "PERIOD_OVERLAP"),
        ("invalid", "REJECTED", "INVALID_INSZ"),
    ]
    assert receipt(root, "KSZ", "create", "mixed")["counts"] == {
        "status": {"ALREADY_EXISTS": 1, "CONFLICT": 5, "CREATED": 3, "REJECTED": 2},
        "reason": {
            "DUPLICATE_IN_FILE": 1,
            "INSZ_REPLACED": 1,
            "INVALID_INSZ": 1,
            "KEY_LINKED_TO_OTHER_INSZ": 2,
            "PERIOD_OVERLAP": 2,
        },
    }
    assert result["message"][1] == "the link exists with another period: use update to change it"
    assert result["valid_from"][1] == "2020-01-01", "an existing link shows its stored period"
    assert result["message"][6] == "the same link as row 6"
    assert result.select("valid_from", "valid_to").row(8) == ("2024-01-01", "2024-12-31")
    # A new link's id is the next id plus its row; the next id moves past the last row that was
    # not rejected, whatever its status.
    assert store_rows(
        root,
        "SELECT link_id, foreign_key FROM links WHERE change = 'CREATE' AND batch_id = ("
        "SELECT max(batch_id) FROM batches WHERE file_name = 'mixed.csv') ORDER BY link_id",
    ) == [(next_id, "NP1111111"), (next_id + 5, "P2222222"), (next_id + 8, "100000009")]
    assert store_rows(root, "SELECT next_link_id FROM store_state") == [(next_id + 10,)]
    assert all((file is None) == (most_in_memory > 0) for file in staged_in)


def record_staging(monkeypatch) -> list[Path | None]:
    """The database file of each request staged from now on (None: staged in memory)."""
    from pipeline import chunks

    files: list[Path | None] = []

    def start_request(connection, schema, *, file=None):
        files.append(file)
        return original(connection, schema, file=file)

    original = chunks.start_request
    monkeypatch.setattr(chunks, "start_request", start_request)
    return files


def test_a_large_load_is_staged_in_a_file_that_goes_with_it(root, drop, run, monkeypatch):
    """Past ``STAGED_IN_MEMORY_ROWS``, a load's rows are staged in a database file in its work
    folder; its result still comes in request order (here copied as it comes, as no row is
    contested), and nothing of it is left."""
    from pipeline import chunks

    monkeypatch.setattr(chunks, "STAGED_IN_MEMORY_ROWS", 3)
    staged_in = record_staging(monkeypatch)
    links = pl.DataFrame(
        {
            "insz": [INSZ_1990, "90010100124", INSZ_2001, INSZ_BIS],
            "country": ["NL", "NL", "NL", "FR"],
            "key_type": ["TAX_NUMBER", "TAX_NUMBER", "PASSPORT", "PASSPORT"],
            "foreign_key": [BSN_A, BSN_B, "NP1111111", "P1234567"],
        }
    )
    links.write_parquet(root / "inbox" / "KSZ" / "create" / "many.parquet")
    run()

    result = pl.read_parquet(root / "outbox" / "KSZ" / "create" / "many.result.parquet")
    assert result.select("row", "status").rows() == [
        (1, "CREATED"), (2, "REJECTED"), (3, "CREATED"), (4, "CREATED")
    ]  # fmt: skip
    assert len(links_in_store(root)) == 3
    [file] = staged_in
    assert file is not None and file.name == "staged.duckdb"
    assert [p.name for p in (root / "work").iterdir()] == [".lock"]
