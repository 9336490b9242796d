"""``linkreg watch`` as a real process: settling, signals, and the other commands meanwhile."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from pipeline.setup import init_root
from pipeline.synthetic import synthetic_insz
from schemas.formats.generate import generate_valid_keys
from tests.conftest import CONFIG, INSZ_1990

SETTLE = 0.5
POLL = 0.2
WATCH_CONFIG = CONFIG.replace(
    "settle_seconds = 0\n", f"settle_seconds = {SETTLE}\npoll_seconds = {POLL}\n"
)
assert WATCH_CONFIG != CONFIG


def linkreg() -> list[str]:
    """The installed console command, else the module."""
    command = Path(sys.executable).parent / "linkreg"
    return [str(command)] if command.exists() else [sys.executable, "-m", "pipeline.cli"]


@dataclass
class Watcher:
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def events(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, signum: int = signal.SIGTERM, *, limit: float = 10) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=limit)


def wait_until(condition, *, limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def watch_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    (root / "linkreg.toml").write_text(WATCH_CONFIG, encoding="utf-8")
    init_root(root)
    return root


@pytest.fixture
def watcher(watch_root: Path, tmp_path: Path) -> Iterator[Watcher]:
    log = tmp_path / "watch.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*linkreg(), "watch", "--root", str(watch_root)],
            cwd=watch_root,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    running = Watcher(watch_root, process, log)
    try:
        wait_until(
            lambda: "watching" in running.events() or process.poll() is not None,
            limit=30,
            what="`linkreg watch` to start",
        )
        assert process.poll() is None, running.events()
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def links(n: int, seed: int = 11) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "insz": synthetic_insz(n, seed=seed, reference_date=dt.date(2024, 1, 1)),
            "country": "NL",
            "key_type": "TAX_NUMBER",
            "foreign_key": generate_valid_keys("NL-BSN", n, seed=seed),
        }
    )


def receipts(root: Path, institution: str, operation: str) -> list[Path]:
    return sorted((root / "outbox" / institution / operation).glob("*.receipt.json"))


def test_a_file_written_in_pieces_is_taken_once_it_stopped_changing(watcher):
    root = watcher.root
    rows = 3_000
    content = links(rows).write_csv().encode()
    pieces = 12
    size = len(content) // pieces + 1
    path = root / "inbox" / "KSZ" / "create" / "slow.csv"
    old = dt.datetime(2001, 1, 1, tzinfo=dt.UTC).timestamp()
    with path.open("wb") as handle:
        for start in range(0, len(content), size):
            if start:
                # Each pause is well under settle_seconds, the whole write much longer (1.4 s).
                time.sleep(SETTLE / 4)
                assert path.exists(), "taken while it was still being written"
                assert receipts(root, "KSZ", "create") == []
            handle.write(content[start : start + size])
            handle.flush()
            os.utime(path, (old, old))  # an old mtime, as a copy keeping times would leave it
            last_write = dt.datetime.now(dt.UTC)

    wait_until(lambda: receipts(root, "KSZ", "create"), limit=30, what="the receipt")
    time.sleep(3 * POLL)  # a second receipt would come within a poll or two

    found = receipts(root, "KSZ", "create")
    assert [p.name for p in found] == ["slow.receipt.json"]
    document = json.loads(found[0].read_text(encoding="utf-8"))
    assert document["status"] == "ACCEPTED"
    assert document["rows"] == rows
    assert document["bytes"] == len(content)
    assert document["counts"]["status"] == {"CREATED": rows}
    received = dt.datetime.fromisoformat(document["received_at"])
    assert received - last_write >= dt.timedelta(seconds=SETTLE - 0.05), "claimed before it settled"
    result = pl.read_csv(root / "outbox" / "KSZ" / "create" / "slow.result.csv", infer_schema=False)
    assert result.height == rows
    assert result["status"].unique().to_list() == ["CREATED"]
    assert not path.exists()
    assert [p.name for p in (root / "work").iterdir()] == [".lock"]

    started = time.monotonic()
    assert watcher.stop(signal.SIGTERM, limit=5) == 0, watcher.events()
    assert time.monotonic() - started < 5
    assert "Traceback" not in watcher.events()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_an_idle_watch_with_exit_code_0(watcher, signum):
    assert watcher.stop(signum, limit=5) == 0, watcher.events()
    assert "watch stopped" in watcher.events()
    assert "Traceback" not in watcher.events()


@pytest.mark.slow
def test_sigterm_lets_the_file_in_hand_finish(watcher):
    root = watcher.root
    rows = 50_000
    (root / "inbox" / "KSZ" / "create" / "bulk.csv").write_bytes(
        links(rows, seed=12).write_csv().encode()
    )
    wait_until(lambda: " started: " in watcher.events(), limit=30, what="the batch to start")

    assert watcher.stop(signal.SIGTERM, limit=60) == 0, watcher.events()

    found = receipts(root, "KSZ", "create")
    assert [p.name for p in found] == ["bulk.receipt.json"], "finished before stopping"
    document = json.loads(found[0].read_text(encoding="utf-8"))
    assert document["counts"]["status"] == {"CREATED": rows}
    assert [p.name for p in (root / "work").iterdir()] == [".lock"]


def test_a_second_process_while_watch_runs_exits_1_and_says_why(watcher):
    root = watcher.root
    done = subprocess.run(
        [*linkreg(), "process", "--root", str(root), "--settle", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "another linkreg process" in done.stderr
    assert str(watcher.process.pid) in done.stderr, "the message names the holder"
    assert "Traceback" not in done.stderr
    assert watcher.process.poll() is None, "the watch goes on"


def test_lookup_while_watch_holds_the_store_exits_1_with_a_clear_message(watcher):
    root = watcher.root
    done = subprocess.run(
        [*linkreg(), "lookup", "--root", str(root), "--insz", INSZ_1990],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "in use by another linkreg process" in done.stderr
    assert "Traceback" not in done.stderr
    assert "IOException" not in done.stderr and "duckdb." not in done.stderr
    assert INSZ_1990 not in done.stderr
    assert watcher.process.poll() is None, "the watch goes on"


def test_the_watch_still_works_after_others_were_turned_away(watcher):
    root = watcher.root
    for command in (["process", "--settle", "0"], ["lookup", "--insz", INSZ_1990]):
        turned_away = subprocess.run(
            [*linkreg(), command[0], "--root", str(root), *command[1:]],
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert turned_away.returncode == 1
    (root / "inbox" / "RVA" / "lookup-insz" / "q.csv").write_text(
        f"insz\n{INSZ_1990}\n", encoding="utf-8"
    )
    wait_until(lambda: receipts(root, "RVA", "lookup-insz"), limit=30, what="the receipt")
    document = json.loads(receipts(root, "RVA", "lookup-insz")[0].read_text(encoding="utf-8"))
    assert document["status"] == "ACCEPTED"
    assert document["counts"]["status"] == {"NOT_FOUND": 1}
    assert watcher.stop(limit=5) == 0
