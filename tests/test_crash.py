"""Crashes: a real ``linkreg process`` killed with SIGKILL at random instants loses nothing.

DESIGN.md, Guarantees: on restart every claimed file is either finished (its result delivered once)
or processed again from scratch; no link is applied twice; no partial output appears.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.config import load_settings
from pipeline.contract import Operation
from pipeline.intake import CLAIM_FILE, Drop, claim
from pipeline.run import process_inbox
from pipeline.setup import init_root
from pipeline.synthetic import synthetic_insz
from schemas.formats.generate import generate_valid_keys
from tests.conftest import BSN_A, BSN_B, CONFIG, INSZ_1990, INSZ_2001, receipt

LINKS = 50_000
LOOKUPS = 20_000
ITERATIONS = 8
EXTRA = 2_000  # links of each small create dropped during the loop
SEED = int(os.environ.get("LINKREG_CRASH_SEED", "20240517"))  # another seed: other instants
BAD_FILE = "insz,country,keytype,foreign_key\n90010100123,NL,TAX_NUMBER,123456782\n"


@functools.cache
def linkreg_command() -> list[str]:
    """``python -m pipeline.cli`` when it runs, else the installed ``linkreg`` entry point."""
    module = [sys.executable, "-m", "pipeline.cli"]
    probe = subprocess.run([*module, "--version"], capture_output=True, check=False, timeout=60)
    if probe.returncode == 0:
        return module
    return [str(Path(sys.executable).parent / "linkreg")]


def make_root(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "linkreg.toml").write_text(CONFIG, encoding="utf-8")
    init_root(folder)
    return folder


def store_links(root: Path) -> tuple[int, int]:
    with duckdb.connect(str(root / "data" / "linkreg.duckdb"), read_only=True) as connection:
        row = connection.execute(
            "SELECT count(*), count(DISTINCT (insz, country, key_type, foreign_key))"
            " FROM links WHERE recorded_to IS NULL"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def store_frame(root: Path) -> pl.DataFrame:
    with duckdb.connect(str(root / "data" / "linkreg.duckdb"), read_only=True) as connection:
        table = connection.sql(
            "SELECT lpad(insz::VARCHAR, 11, '0') AS insz, country, key_type, foreign_key"
            " FROM links WHERE recorded_to IS NULL"
        ).to_arrow_table()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def ledger_rows(root: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(root / "data" / "linkreg.duckdb"), read_only=True) as connection:
        return connection.execute(
            "SELECT institution, operation, file_name, status FROM batches ORDER BY ALL"
        ).fetchall()


def receipts_by_input(root: Path) -> Counter[tuple[str, str, str]]:
    """How many receipts each input (institution, operation, file name) got."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for path in (root / "outbox").rglob("*.receipt.json"):
        document = json.loads(path.read_text(encoding="utf-8"))
        counts[(document["institution"], document["operation"], document["file"])] += 1
    return counts


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the crash loop ------------------------------------------------------------------------------


@dataclass
class Crashed:
    """A root after the crash loop and one pass to completion."""

    root: Path
    links: pl.DataFrame  # every link dropped in a create file
    dropped: dict[tuple[str, str, str], str] = field(default_factory=dict)  # -> sha256
    create_bytes: bytes = b""
    kills: list[str] = field(default_factory=list)


class Inbox:
    """Drops files into a root and remembers what it dropped."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dropped: dict[tuple[str, str, str], str] = {}

    def drop(self, institution: str, operation: str, name: str, content: bytes) -> None:
        folder = self.root / "inbox" / institution / operation
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
        self.dropped[(institution, operation, name)] = hashlib.sha256(content).hexdigest()


def synthetic_links(n: int) -> pl.DataFrame:
    insz = synthetic_insz(n, seed=SEED, reference_date=dt.date(2024, 1, 1))
    keys = generate_valid_keys("NL-BSN", n, seed=SEED)
    return pl.DataFrame(
        {"insz": insz, "country": "NL", "key_type": "TAX_NUMBER", "foreign_key": keys}
    )


def _drop_first(inbox: Inbox, links: pl.DataFrame) -> bytes:
    """The bulk create file, a few lookups, and a file rejected whole."""
    bulk = links.write_csv().encode()
    inbox.drop("KSZ", "create", "bulk.csv", bulk)
    insz = links.select("insz")
    inbox.drop(
        "KSZ", "lookup-insz", "nightly.csv", insz.sample(LOOKUPS, seed=1).write_csv().encode()
    )
    inbox.drop(
        "RVA",
        "lookup-insz",
        "nightly.csv",
        insz.sample(LOOKUPS, seed=2).write_csv(separator=";").encode(),
    )
    keys = links.select("country", "foreign_key").head(LOOKUPS).write_csv().encode()
    inbox.drop("RVA", "lookup-key", "keys.csv", keys)
    inbox.drop("ONEM", "lookup-insz", "few.csv", f"insz\n{INSZ_1990}\n{INSZ_2001}\n".encode())
    inbox.drop("RVA", "create", "typo.csv", BAD_FILE.encode())  # UNKNOWN_COLUMNS
    return bulk


def _wait_for(log: Path, needle: str, *, process: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and needle in log.read_text(encoding="utf-8", errors="replace"):
            return
        time.sleep(0.01)


def _kill_loop(root: Path, logs: Path, inbox: Inbox, more: list[pl.DataFrame]) -> list[str]:
    """Starts a pass, kills it with SIGKILL at a seeded random instant, and again.

    Before each pass a few more files arrive (a small create, a lookup), so that every pass has
    work in hand when it is killed, and not only the first two.
    """
    command = [*linkreg_command(), "process", "--root", str(root), "--settle", "0"]
    rng = random.Random(SEED)
    kills = []
    for iteration, extra in enumerate(more):
        inbox.drop("KSZ", "create", f"more-{iteration}.csv", extra.write_csv().encode())
        lookup = extra.select("insz").write_csv().encode()
        inbox.drop("ONEM", "lookup-insz", f"extra-{iteration}.csv", lookup)
        log = logs / f"pass-{iteration}.log"
        # Half the kills count from the start (startup, recovery, claiming, staging), half from
        # the moment the first batch starts, so that commits and deliveries are hit as well.
        anchored = iteration % 2 == 1
        delay = rng.uniform(0.0, 1.5) if anchored else rng.uniform(0.0, 3.0)
        with log.open("wb") as stderr:
            process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                if anchored:
                    _wait_for(log, " started: ", process=process, limit=15)
                time.sleep(delay)
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                    kills.append(f"{iteration}: killed after {delay:.2f}s ({anchored=})")
                else:
                    kills.append(f"{iteration}: ended first ({process.returncode})")
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        events = log.read_text(encoding="utf-8", errors="replace")
        assert process.returncode in (0, -signal.SIGKILL), events
        kills[-1] += (
            f", {events.count(' started: ')} batches started,"
            f" {events.count(' finished: ')} finished"
        )
    return kills


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Crashed:
    base = tmp_path_factory.mktemp("crash")
    root = make_root(base / "root")
    logs = base / "logs"
    logs.mkdir()
    links = synthetic_links(LINKS + ITERATIONS * EXTRA)
    inbox = Inbox(root)
    bulk = _drop_first(inbox, links.head(LINKS))
    more = [links.slice(LINKS + i * EXTRA, EXTRA) for i in range(ITERATIONS)]

    kills = _kill_loop(root, logs, inbox, more)

    final = subprocess.run(
        [*linkreg_command(), "process", "--root", str(root), "--settle", "0"],
        cwd=root,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert final.returncode == 0, final.stderr.decode()
    return Crashed(root, links, inbox.dropped, bulk, kills)


@pytest.mark.slow
def test_sigkill_at_random_instants_loses_nothing_and_applies_nothing_twice(crashed):
    root = crashed.root
    context = "\n".join(crashed.kills)

    # Every dropped file has exactly one receipt, under its own name.
    assert receipts_by_input(root) == Counter(dict.fromkeys(crashed.dropped, 1)), context
    for institution, operation, name in crashed.dropped:
        stem = name.removesuffix(".csv")
        outbox = root / "outbox" / institution / operation
        assert (outbox / f"{stem}.receipt.json").exists()
        assert not list(outbox.glob(f"{stem}.*.receipt.json")), "no second delivery"

    # The ledger has one batch per file: none was committed twice.
    ledger = ledger_rows(root)
    assert Counter((i, o, f) for i, o, f, _ in ledger) == Counter(dict.fromkeys(crashed.dropped, 1))

    # The store holds each link exactly once, and all of them.
    total = LINKS + ITERATIONS * EXTRA
    assert store_links(root) == (total, total), context
    stored = store_frame(root).sort(pl.all())
    assert stored.equals(crashed.links.sort(pl.all()))

    # The create file: accepted once, every row created, its result whole.
    document = receipt(root, "KSZ", "create", "bulk")
    assert document["status"] == "ACCEPTED"
    assert document["rows"] == LINKS
    assert document["counts"]["status"] == {"CREATED": LINKS}
    assert document["sha256"] == crashed.dropped[("KSZ", "create", "bulk.csv")]
    result = pl.read_csv(root / "outbox" / "KSZ" / "create" / "bulk.result.csv", infer_schema=False)
    assert result.height == LINKS
    assert result["status"].unique().to_list() == ["CREATED"]
    assert result["row"].cast(pl.Int64).sort().to_list() == list(range(1, LINKS + 1))

    # Lookups: answered once, every request row counted once.
    for institution, operation, name, rows in (
        ("KSZ", "lookup-insz", "nightly", LOOKUPS),
        ("RVA", "lookup-insz", "nightly", LOOKUPS),
        ("RVA", "lookup-key", "keys", LOOKUPS),
        ("ONEM", "lookup-insz", "few", 2),
    ):
        document = receipt(root, institution, operation, name)
        assert document["status"] == "ACCEPTED", (institution, operation, name)
        assert document["rows"] == rows
        assert sum(document["counts"]["status"].values()) == rows
    for iteration in range(ITERATIONS):
        document = receipt(root, "KSZ", "create", f"more-{iteration}")
        assert document["counts"]["status"] == {"CREATED": EXTRA}, iteration
        document = receipt(root, "ONEM", "lookup-insz", f"extra-{iteration}")
        assert document["rows"] == EXTRA
        assert sum(document["counts"]["status"].values()) == EXTRA
    rejected = receipt(root, "RVA", "create", "typo")
    assert (rejected["status"], rejected["reason"]) == ("REJECTED", "UNKNOWN_COLUMNS")
    assert not list((root / "outbox" / "RVA" / "create").glob("typo.result.*"))

    # No partial output anywhere a user looks.
    for folder in ("outbox", "archive", "audit"):
        partial = [
            p
            for p in files_under(root / folder)
            if p.name.startswith(".") or p.name.endswith(".tmp")
        ]
        assert partial == [], f"partial files in {folder}/"

    # The work area is empty, the inbox too, nothing was set aside.
    assert [p.name for p in (root / "work").iterdir()] == [".lock"]
    assert files_under(root / "inbox") == []
    assert not (root / "quarantine").exists() or files_under(root / "quarantine") == []

    # Every input is archived exactly once, unchanged.
    archived: Counter[tuple[str, str]] = Counter()
    for path in files_under(root / "archive"):
        institution = path.relative_to(root / "archive").parts[0]
        archived[(institution, path.name)] += 1
        matching = [key for key in crashed.dropped if key[0] == institution and key[2] == path.name]
        assert any(crashed.dropped[key] == sha256(path) for key in matching), path
    assert archived == Counter((i, f) for i, _, f in crashed.dropped)


@pytest.mark.slow
def test_the_same_create_file_dropped_again_after_the_crashes_is_a_duplicate(crashed, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(crashed.root, root, symlinks=True)
    first = receipt(root, "KSZ", "create", "bulk")
    (root / "inbox" / "KSZ" / "create" / "bulk.csv").write_bytes(crashed.create_bytes)

    done = subprocess.run(
        [*linkreg_command(), "process", "--root", str(root), "--settle", "0"],
        cwd=root,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()

    outbox = root / "outbox" / "KSZ" / "create"
    again = list(outbox.glob("bulk.B*.receipt.json"))
    assert len(again) == 1, sorted(p.name for p in outbox.iterdir())
    document = json.loads(again[0].read_text(encoding="utf-8"))
    assert document["status"] == "DUPLICATE"
    assert document["batch_id"] == first["batch_id"]
    assert document["duplicate_of"] == first["batch_id"]
    assert document["rows"] == 0
    assert receipt(root, "KSZ", "create", "bulk") == first, "the first receipt is untouched"
    assert sorted(p.name for p in outbox.glob("bulk*.result.*")) == ["bulk.result.csv"]
    total = LINKS + ITERATIONS * EXTRA
    assert store_links(root) == (total, total)
    assert files_under(root / "inbox") == []


# --- focused: a crash between two steps, simulated in process ------------------------------------

HEADER = "insz,country,key_type,foreign_key\n"
TWO_LINKS = HEADER + f"{INSZ_1990},NL,TAX_NUMBER,{BSN_A}\n{INSZ_2001},NL,TAX_NUMBER,{BSN_B}\n"


class Crash(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even ``except Exception``."""


def assert_finished_once(root: Path, institution: str, operation: str, name: str) -> None:
    stem = name.removesuffix(".csv")
    assert receipts_by_input(root) == Counter({(institution, operation, name): 1})
    outbox = root / "outbox" / institution / operation
    assert not list(outbox.glob(f"{stem}.B*")), "nothing delivered a second time"
    assert not [p for p in files_under(root / "outbox") if p.name.startswith(".")]
    assert [p.name for p in (root / "work").iterdir()] == [".lock"]
    assert files_under(root / "inbox") == []
    archived = [p for p in files_under(root / "archive") if p.name == name]
    assert len(archived) == 1
    assert not (root / "quarantine").exists() or files_under(root / "quarantine") == []
    assert len(ledger_rows(root)) == 1


@pytest.mark.parametrize("most_in_memory", [1_000_000, 0], ids=["in memory", "in a file"])
def test_claimed_but_not_committed_is_processed_again_exactly_once(
    root, settings, drop, run, monkeypatch, most_in_memory
):
    """Staged in memory or in a database file in the work folder (``STAGED_IN_MEMORY_ROWS``),
    which the killed attempt left half-written."""
    monkeypatch.setattr("pipeline.chunks.STAGED_IN_MEMORY_ROWS", most_in_memory)
    path = drop("KSZ", "create", "links.csv", TWO_LINKS)
    claimed = claim(Drop(path, "KSZ", Operation.CREATE), settings, now=dt.datetime.now(dt.UTC))
    assert claimed is not None
    work_dir = settings.work / claimed.batch_id
    # What a killed attempt leaves: staged rows, a half-written result, a stray temporary file.
    (work_dir / "staged").mkdir()
    (work_dir / "staged" / "chunk-000001.parquet").write_bytes(b"PAR1 half")
    (work_dir / "staged.duckdb").write_bytes(b"half a DuckDB file")
    (work_dir / "staged.duckdb.wal").write_bytes(b"half a log")
    (work_dir / "result").mkdir()
    (work_dir / "result" / "links.result.csv").write_text("row,ref,sta", encoding="utf-8")
    (work_dir / ".claim.json.tmp").write_text("{", encoding="utf-8")

    reports = run()

    assert [(r.batch_id, r.status.value) for r in reports] == [(claimed.batch_id, "ACCEPTED")]
    assert_finished_once(root, "KSZ", "create", "links.csv")
    document = receipt(root, "KSZ", "create", "links")
    assert document["batch_id"] == claimed.batch_id
    assert document["counts"]["status"] == {"CREATED": 2}
    result = (root / "outbox" / "KSZ" / "create" / "links.result.csv").read_text(encoding="utf-8")
    assert result.count("CREATED") == 2
    assert store_links(root) == (2, 2)
    assert run() == [], "a further pass finds nothing to do"
    assert store_links(root) == (2, 2)


def test_a_claim_killed_before_the_move_leaves_the_file_in_the_inbox(root, settings, drop, run):
    path = drop("KSZ", "create", "links.csv", TWO_LINKS)
    # The claim record was written, the rename never happened.
    work_dir = settings.work / "B20240101T000000000000Z-000000"
    (work_dir / "input").mkdir(parents=True)
    (work_dir / CLAIM_FILE).write_text(
        json.dumps(
            {
                "institution": "KSZ",
                "operation": "create",
                "file": "links.csv",
                "received_at": "2024-01-01T00:00:00+00:00",
            }
        ),
        encoding="utf-8",
    )

    reports = run()

    assert not path.exists()
    assert [r.status.value for r in reports] == ["ACCEPTED"]
    assert reports[0].batch_id != work_dir.name
    assert_finished_once(root, "KSZ", "create", "links.csv")
    assert store_links(root) == (2, 2)


def _crash_in_processor(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Makes the processor die at one step after the commit."""

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash(where)

    if where == "before delivery":
        monkeypatch.setattr("pipeline.processor.deliver", crash)
    elif where == "after the result, before the receipt":
        monkeypatch.setattr("pipeline.delivery.write_atomic", crash)
    elif where == "after the receipt, before the archive":
        monkeypatch.setattr("pipeline.delivery.archive_input", crash)
    elif where == "after the archive, before the work folder goes":

        class NoRemoval:
            rmtree = staticmethod(crash)

        monkeypatch.setattr("pipeline.delivery.shutil", NoRemoval)
    else:
        raise AssertionError(where)


CRASH_POINTS = [
    "before delivery",
    "after the result, before the receipt",
    "after the receipt, before the archive",
    "after the archive, before the work folder goes",
]


@pytest.mark.parametrize("where", CRASH_POINTS)
@pytest.mark.parametrize(
    ("operation", "content", "status"),
    [
        ("create", TWO_LINKS, "ACCEPTED"),
        ("create", BAD_FILE, "REJECTED"),
        ("lookup-insz", f"insz\n{INSZ_1990}\n", "ACCEPTED"),
    ],
)
def test_a_crash_after_the_commit_is_delivered_once_by_the_next_pass(
    root, settings, drop, where, operation, content, status
):
    drop("KSZ", operation, "links.csv", content)
    with pytest.MonkeyPatch.context() as patch:
        _crash_in_processor(patch, where)
        with pytest.raises(Crash):
            process_inbox(settings, settle_seconds=0)
    assert len(ledger_rows(root)) == 1, "committed before the crash"

    reports = process_inbox(load_settings(root), settle_seconds=0)

    assert reports == [], "recovery delivers, it does not answer again"
    assert_finished_once(root, "KSZ", operation, "links.csv")
    document = receipt(root, "KSZ", operation, "links")
    assert document["status"] == status
    results = list((root / "outbox" / "KSZ" / operation).glob("links.result.*"))
    assert len(results) == (1 if status == "ACCEPTED" else 0)
    if operation == "create" and status == "ACCEPTED":
        assert store_links(root) == (2, 2)
        assert results[0].read_text(encoding="utf-8").count("CREATED") == 2
