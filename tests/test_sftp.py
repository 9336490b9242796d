"""A real SFTP upload (OpenSSH ``sshd`` and ``sftp``) into the inbox while ``linkreg watch`` runs.

The institution's client uploads slowly and in pieces, so a half file (cut mid-row) sits in the
inbox between pieces: it must not be taken before it has stayed unchanged for ``settle_seconds``,
and it must be answered exactly once. A second file is uploaded under a ``.part`` name and renamed
at the end: never taken while it is ``.part``, answered once after the rename.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from pipeline.setup import init_root
from pipeline.synthetic import synthetic_insz
from schemas.formats.generate import generate_valid_keys
from tests.sftp_server import SftpServer, missing_tools

pytestmark = pytest.mark.slow

SETTLE = 1.0
POLL = 0.2
PAUSE = 0.6  # between two pieces of an upload: shorter than SETTLE
CONFIG = f"""\
[settings]
store = "data/linkreg.duckdb"
settle_seconds = {SETTLE}
poll_seconds = {POLL}

[institutions.RVA]
operations = ["lookup-insz", "lookup-key", "create", "update", "report", "formats"]

[institutions.KSZ]
operations = ["*"]
admin = true
"""
ROWS = 3_000
LINKED = 200  # the first LINKED of the looked-up INSZ have a link in the store


def linkreg() -> list[str]:
    """The installed console command, else the module."""
    command = Path(sys.executable).parent / "linkreg"
    return [str(command)] if command.exists() else [sys.executable, "-m", "pipeline.cli"]


def wait_until(condition: Callable[[], object], *, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        time.sleep(0.05)


def all_insz() -> pl.Series:
    return synthetic_insz(ROWS, seed=23, reference_date=dt.date(2024, 1, 1))


@pytest.fixture
def sftp_root(tmp_path: Path) -> Path:
    """A root with links loaded by ``linkreg process`` (before any watch holds the store)."""
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    root = tmp_path / "root"
    root.mkdir()
    (root / "linkreg.toml").write_text(CONFIG, encoding="utf-8")
    init_root(root)
    links = pl.DataFrame(
        {
            "insz": all_insz().head(LINKED),
            "country": "NL",
            "key_type": "TAX_NUMBER",
            "foreign_key": generate_valid_keys("NL-BSN", LINKED, seed=23),
        }
    )
    (root / "inbox" / "KSZ" / "create" / "load.csv").write_text(links.write_csv(), encoding="utf-8")
    done = subprocess.run(
        [*linkreg(), "process", "--root", str(root), "--settle", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    loaded = json.loads((root / "outbox" / "KSZ" / "create" / "load.receipt.json").read_text())
    assert loaded["counts"]["status"] == {"CREATED": LINKED}, loaded
    return root


@pytest.fixture
def sftp_server(sftp_root: Path, tmp_path: Path) -> Iterator[SftpServer]:
    server = SftpServer(tmp_path / "sshd", start_dir=sftp_root / "inbox" / "RVA" / "lookup-insz")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def watch(sftp_root: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = tmp_path / "watch.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*linkreg(), "watch", "--root", str(sftp_root)],
            cwd=sftp_root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        wait_until(
            lambda: "watching" in log.read_text(errors="replace") or process.poll() is not None,
            limit=30,
            what="`linkreg watch` to start",
        )
        assert process.poll() is None, log.read_text(errors="replace")
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def answered(root: Path, stem: str) -> list[str]:
    """Every receipt for ``stem`` in RVA's lookup-insz outbox (a second one would be ``stem.*``)."""
    folder = root / "outbox" / "RVA" / "lookup-insz"
    return sorted(p.name for p in folder.glob(f"{stem}*.receipt.json"))


def has_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


def pieces(content: bytes, folder: Path, count: int = 3) -> list[Path]:
    """Growing prefixes of ``content`` cut mid-row: the client resumes (``reput``) each time."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(1, count + 1):
        end = len(content) * index // count
        while index < count and content[end - 1 : end] == b"\n":
            end -= 1  # a cut mid-row, not at a row boundary
        path = folder / f"piece{index}.csv"
        path.write_bytes(content[:end])
        paths.append(path)
    assert paths[-1].read_bytes() == content
    return paths


def check_result(root: Path, stem: str, rows: int, size: int) -> dict:
    receipts = answered(root, stem)
    assert receipts == [f"{stem}.receipt.json"], receipts
    folder = root / "outbox" / "RVA" / "lookup-insz"
    document = json.loads((folder / receipts[0]).read_text(encoding="utf-8"))
    assert document["status"] == "ACCEPTED", document
    assert document["rows"] == rows, document
    assert document["bytes"] == size, document
    result = pl.read_csv(folder / f"{stem}.result.csv", infer_schema=False)
    assert sorted(int(r) for r in result["row"].unique()) == list(range(1, rows + 1))
    assert set(result["insz"].drop_nulls()) == set(all_insz().head(rows))
    found = result.filter(pl.col("foreign_key").is_not_null())
    assert set(found["insz"]) == set(all_insz().head(LINKED)), "the loaded links are found"
    return document


def test_a_slow_sftp_upload_in_pieces_is_answered_once(sftp_root, sftp_server, watch, tmp_path):
    root = sftp_root
    inbox = root / "inbox" / "RVA" / "lookup-insz"
    content = pl.DataFrame({"insz": all_insz()}).write_csv().encode()

    # One connection, a piece at a time: put the first third, then resume twice.
    first = pieces(content, tmp_path / "upload1")
    session = sftp_server.session()
    try:
        for index, piece in enumerate(first):
            verb = "put" if index == 0 else "reput"
            session.send(f'{verb} "{piece}" slow.csv')
            size = piece.stat().st_size
            wait_until(
                functools.partial(has_size, inbox / "slow.csv", size),
                limit=15,
                what=f"piece {index + 1} on the server",
            )
            if piece != first[-1]:
                time.sleep(PAUSE)
                assert (inbox / "slow.csv").exists(), "taken while the upload was going on"
                assert has_size(inbox / "slow.csv", size), "the half file stays as it is"
                assert answered(root, "slow") == [], "answered while the upload was going on"
        uploaded = dt.datetime.now(dt.UTC)
        assert session.close() == 0, session.output()
    finally:
        session.close()
    wait_until(lambda: answered(root, "slow"), limit=20, what="the receipt of slow.csv")
    time.sleep(5 * POLL)  # a second receipt would come within a poll or two
    document = check_result(root, "slow", ROWS, len(content))
    waited = dt.datetime.fromisoformat(document["received_at"]) - uploaded
    assert waited >= dt.timedelta(seconds=SETTLE - 0.3), f"claimed {waited} after the upload"
    assert not (inbox / "slow.csv").exists()

    # Under a temporary name, in pieces over separate connections, then renamed.
    second_rows = 1_000
    second = pl.DataFrame({"insz": all_insz().head(second_rows)}).write_csv().encode()
    parts = pieces(second, tmp_path / "upload2", count=2)
    sftp_server.run(f'put "{parts[0]}" second.csv.part')
    time.sleep(PAUSE)
    sftp_server.run(f'reput "{parts[1]}" second.csv.part')
    # Complete and unchanged for longer than settle_seconds, but still named .part.
    time.sleep(SETTLE + 3 * POLL)
    assert has_size(inbox / "second.csv.part", len(second)), "the .part was taken"
    assert answered(root, "second") == []
    sftp_server.run("rename second.csv.part second.csv")
    wait_until(lambda: answered(root, "second"), limit=20, what="the receipt of second.csv")
    time.sleep(5 * POLL)
    check_result(root, "second", second_rows, len(second))
    assert sorted(p.name for p in inbox.iterdir()) == []
    assert [p.name for p in (root / "work").iterdir()] == [".lock"]

    watch.send_signal(signal.SIGTERM)
    assert watch.wait(timeout=10) == 0
    log = (tmp_path / "watch.log").read_text(errors="replace")
    assert "Traceback" not in log, log
