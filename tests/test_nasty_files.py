"""The nasty-file corpus, end to end: each file gets its receipt and the processor goes on."""

from __future__ import annotations

import io

import polars as pl
import pytest

from tests.conftest import INSZ_1990, INSZ_2001, receipt

HEADER = "insz,country,key_type,foreign_key,ref\n"
GOOD = f"{INSZ_1990},NL,PASSPORT,NP1234567,ok\n"


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


# name -> (content, receipt status, file reason, row statuses {status: count} or None)
CORPUS = {
    "nul-byte.csv": (
        (HEADER + GOOD + "9001\x000100123,NL,PASSPORT,NP7654321,x\n").encode(),
        "REJECTED",
        "UNREADABLE_FILE",
        None,
    ),
    "one-long-line.csv": (b"insz," + b"x" * 50_000_000, "REJECTED", "UNREADABLE_FILE", None),
    "quoted-newline.csv": (
        (HEADER + GOOD + f'{INSZ_2001},NL,PASSPORT,NP7654321,"line one\nline two"\n').encode(),
        "ACCEPTED",
        None,
        {"CREATED": 2},
    ),
    "formula.csv": (
        (
            HEADER
            + f"{INSZ_1990},NL,PASSPORT,=cmd(),=HYPERLINK(1)\n{INSZ_2001},NL,PASSPORT,@SUM(A1),+x\n"
        ).encode(),
        "ACCEPTED",
        None,
        {"REJECTED": 2},
    ),
    "mixed-endings.csv": (
        (HEADER + GOOD.replace("\n", "\r\n") + f"{INSZ_2001},NL,PASSPORT,NP7654321,lf\n").encode(),
        "ACCEPTED",
        None,
        {"CREATED": 2},
    ),
    "windows-1252.csv": (
        (HEADER + GOOD + f"{INSZ_2001},FR,PASSPORT,NP7654321,caf\xe9\n").encode("cp1252"),
        "REJECTED",
        "ENCODING_ERROR",
        None,
    ),
    "header-again.csv": (
        (HEADER + GOOD + HEADER + f"{INSZ_2001},NL,PASSPORT,NP7654321,x\n").encode(),
        "ACCEPTED",
        None,
        {"CREATED": 2, "REJECTED": 1},
    ),
    "wrong-types.parquet": (
        parquet_bytes(
            pl.DataFrame(
                {
                    "insz": [90010100123],
                    "country": ["NL"],
                    "key_type": ["PASSPORT"],
                    "foreign_key": ["NP1"],
                }
            )
        ),
        "REJECTED",
        "UNREADABLE_FILE",
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_nasty_file_gets_its_receipt(root, drop, run, name):
    content, status, reason, counts = CORPUS[name]
    drop("KSZ", "create", name, content)
    drop("KSZ", "create", "zz-after.csv", HEADER + f"{INSZ_1990},DE,PASSPORT,DP1234567,after\n")
    reports = run()
    assert [r.file for r in reports] == [name, "zz-after.csv"]
    assert reports[1].status == "ACCEPTED", "the next file goes on"
    document = receipt(root, "KSZ", "create", name.split(".")[0])
    assert (document["status"], document["reason"]) == (status, reason), document["message"]
    if counts is not None:
        assert document["counts"]["status"] == counts
        assert sum(document["counts"]["status"].values()) == document["rows"]


def test_formula_values_are_refused_as_keys_and_echoed_as_refs(root, drop, run):
    content, *_ = CORPUS["formula.csv"]
    drop("KSZ", "create", "formula.csv", content)
    run()
    result = pl.read_csv(root / "outbox/KSZ/create/formula.result.csv", infer_schema=False)
    assert result.select("ref", "reason").rows() == [
        ("=HYPERLINK(1)", "INVALID_KEY_FORMAT"),
        ("+x", "INVALID_KEY_FORMAT"),
    ]


@pytest.mark.slow
def test_two_million_rows_with_one_bad_row_at_the_end(root, drop, run, tmp_path):
    rows = 2_000_000
    frame = pl.DataFrame({"insz": [INSZ_1990] * (rows - 1) + ["9001010012X"]})
    path = tmp_path / "big.csv"
    frame.write_csv(path)
    drop("RVA", "lookup-insz", "big.csv", path.read_bytes())
    run()
    document = receipt(root, "RVA", "lookup-insz", "big")
    assert document["status"] == "ACCEPTED" and document["rows"] == rows
    assert document["counts"]["status"] == {"NOT_FOUND": rows - 1, "REJECTED": 1}
    assert document["counts"]["reason"] == {"INVALID_INSZ": 1}
