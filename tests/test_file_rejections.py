"""Files refused whole: each gets a receipt with its reason, no result, and the next goes on."""

from __future__ import annotations

import gzip

import pytest

from tests.conftest import INSZ_1990, receipt


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("typo.csv", "insz,country,keytype,foreign_key\n", "UNKNOWN_COLUMNS"),
        ("short.csv", "insz,country\n", "MISSING_COLUMNS"),
        ("nothing.csv", "", "EMPTY_FILE"),
        ("sheet.xlsx", "PK\x03\x04", "UNSUPPORTED_FILE_TYPE"),
        (
            "latin.csv",
            "insz,country,key_type,foreign_key\n90010100123,FR,PASSPORT,caf\xe9\n".encode("cp1252"),
            "ENCODING_ERROR",
        ),
        ("broken.parquet", b"PAR1 not really", "UNREADABLE_FILE"),
        ("broken.csv.gz", b"\x1f\x8b\x08 truncated", "UNREADABLE_FILE"),
    ],
)
def test_file_level_reasons(root, drop, run, name, content, reason):
    drop("KSZ", "create", name, content)
    drop(
        "KSZ",
        "create",
        "zz-next.csv",
        f"insz,country,key_type,foreign_key\n{INSZ_1990},FR,PASSPORT,P1234567\n",
    )
    reports = run()
    assert [r.status for r in reports] == ["REJECTED", "ACCEPTED"]
    stem = name.split(".")[0]
    document = receipt(root, "KSZ", "create", stem)
    assert document["status"] == "REJECTED"
    assert document["reason"] == reason
    assert document["message"]
    assert not list((root / "outbox" / "KSZ" / "create").glob(f"{stem}.result.*"))


def test_operation_not_allowed(root, drop, run):
    drop("RVA", "delete", "wipe.csv", "insz,country,key_type,foreign_key,reason\n")
    drop("ONEM", "create", "load.csv", "insz,country,key_type,foreign_key\n")
    run()
    assert receipt(root, "RVA", "delete", "wipe")["reason"] == "OPERATION_NOT_ALLOWED"
    assert receipt(root, "ONEM", "create", "load")["reason"] == "OPERATION_NOT_ALLOWED"


def test_gzip_csv_is_read_and_answered_in_gzip(root, drop, run):
    drop(
        "KSZ",
        "create",
        "load.csv.gz",
        gzip.compress(
            f"insz;country;key_type;foreign_key\n{INSZ_1990};FR;PASSPORT;P1234567\n".encode()
        ),
    )
    run()
    out = root / "outbox" / "KSZ" / "create" / "load.result.csv.gz"
    text = gzip.decompress(out.read_bytes()).decode()
    assert text.splitlines()[1].split(";")[2] == "CREATED"


def test_unknown_institution_is_set_aside_never_processed(root, drop, run):
    drop("EVIL", "create", "x.csv", "insz\n")
    assert run() == []
    assert list((root / "quarantine").rglob("x.csv"))
    assert not (root / "outbox" / "EVIL").exists()


def test_symlink_in_inbox_is_set_aside(root, drop, run, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text(f"insz\n{INSZ_1990}\n")
    folder = root / "inbox" / "RVA" / "lookup-insz"
    (folder / "link.csv").symlink_to(secret)
    assert run() == []
    assert secret.exists()
    assert list((root / "quarantine").rglob("link.csv"))


def test_an_unforeseen_error_refuses_the_file_and_the_next_goes_on(root, drop, run, monkeypatch):
    import pipeline.chunks

    def broken(*args, **kwargs):
        raise ValueError("a bug nobody foresaw")

    monkeypatch.setattr(pipeline.chunks, "validate_chunk", broken)
    drop("RVA", "lookup-insz", "a.csv", f"insz\n{INSZ_1990}\n")
    drop("RVA", "lookup-insz", "b.csv", "insz\n")
    reports = run()
    assert [r.status for r in reports] == ["REJECTED", "ACCEPTED"]
    document = receipt(root, "RVA", "lookup-insz", "a")
    assert document["reason"] == "UNREADABLE_FILE"
    assert "ValueError" in document["message"]
