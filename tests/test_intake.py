"""``pipeline.intake``: what counts as complete, what is set aside, and the atomic claim."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from pipeline import files
from pipeline.contract import Operation
from pipeline.intake import (
    CLAIM_FILE,
    Drop,
    SettleTracker,
    claim,
    is_ignored,
    read_claim,
    scan_inbox,
)

NOW = dt.datetime(2024, 5, 17, 9, 30, 15, tzinfo=dt.UTC)
QUARANTINE_STAMP = "20240517T093015"
CONTENT = "insz,country,key_type,foreign_key\n90010100123,NL,TAX_NUMBER,123456782\n"


def quarantined(settings, relative: str) -> Path:
    """Where a stray set aside at NOW went: quarantine/<event folder>/<its inbox path>."""
    found = [
        event / relative
        for event in sorted(settings.quarantine.iterdir())
        if os.path.lexists(event / relative)
    ]
    assert len(found) == 1, f"{relative}: {found}"
    assert found[0].parent.relative_to(settings.quarantine).parts[0].startswith(QUARANTINE_STAMP)
    return found[0]


def put(folder: Path, name: str, content: str = CONTENT) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content, encoding="utf-8")
    return path


# --- is_ignored ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.csv",
        ".links.csv.swp",
        ".",
        "links.csv.part",
        "links.csv.tmp",
        "links.csv.filepart",
        "links.csv.partial",
        "links.csv~",
        "~",
    ],
)
def test_names_still_being_written_are_ignored(name):
    assert is_ignored(name)


@pytest.mark.parametrize(
    "name",
    ["links.csv", "links.parquet", "links.csv.gz", "part.csv", "tmp.csv", "links.partial.csv"],
)
def test_ordinary_names_are_not_ignored(name):
    assert not is_ignored(name)


def test_scan_leaves_ignored_files_alone(settings):
    folder = settings.inbox / "RVA" / "create"
    names = [".upload.csv", "a.csv.part", "b.csv.tmp", "c.csv.filepart", "d.csv.partial", "e.csv~"]
    for name in names:
        put(folder, name)
    assert scan_inbox(settings, now=NOW) == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(names), "nothing moved or taken"
    assert not settings.quarantine.exists() or not any(settings.quarantine.rglob("*"))


# --- SettleTracker -------------------------------------------------------------------------------


@pytest.fixture
def one_drop(settings) -> Drop:
    path = put(settings.inbox / "RVA" / "create", "links.csv")
    return Drop(path, "RVA", Operation.CREATE)


def test_a_file_is_ready_only_after_settle_seconds_as_observed(one_drop):
    tracker = SettleTracker(5)
    assert tracker.ready([one_drop], monotonic=100.0) == [], "first sight: the clock starts"
    assert tracker.ready([one_drop], monotonic=104.9) == []
    assert tracker.ready([one_drop], monotonic=105.0) == [one_drop]


def test_a_file_seen_once_then_again_after_the_interval_is_ready(one_drop):
    tracker = SettleTracker(5)
    assert tracker.ready([one_drop], monotonic=100.0) == []
    assert tracker.ready([one_drop], monotonic=250.0) == [one_drop]


def test_a_growing_file_restarts_the_clock(one_drop):
    tracker = SettleTracker(5)
    assert tracker.ready([one_drop], monotonic=100.0) == []
    with one_drop.path.open("a", encoding="utf-8") as handle:
        handle.write("01020300269,NL,TAX_NUMBER,111222333\n")
    assert tracker.ready([one_drop], monotonic=104.0) == [], "size changed: seen anew at 104"
    assert tracker.ready([one_drop], monotonic=108.9) == []
    assert tracker.ready([one_drop], monotonic=109.0) == [one_drop]


def test_a_changed_mtime_with_the_same_size_restarts_the_clock(one_drop):
    tracker = SettleTracker(5)
    assert tracker.ready([one_drop], monotonic=100.0) == []
    stat = one_drop.path.stat()
    os.utime(one_drop.path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert tracker.ready([one_drop], monotonic=104.0) == []
    assert tracker.ready([one_drop], monotonic=108.0) == []
    assert tracker.ready([one_drop], monotonic=109.0) == [one_drop]


def test_a_file_copied_with_an_old_mtime_still_waits(one_drop):
    old = dt.datetime(2001, 1, 1, tzinfo=dt.UTC).timestamp()
    os.utime(one_drop.path, (old, old))  # as `cp -p` or rsync would leave it: years old
    tracker = SettleTracker(5)
    assert tracker.ready([one_drop], monotonic=100.0) == [], "an old mtime is no proof of rest"
    assert tracker.ready([one_drop], monotonic=102.0) == []
    assert tracker.ready([one_drop], monotonic=105.0) == [one_drop]


def test_a_file_replaced_by_another_with_the_same_size_and_mtime_waits_again(one_drop, tmp_path):
    tracker = SettleTracker(5)
    assert tracker.ready([one_drop], monotonic=100.0) == []
    stat = one_drop.path.stat()
    other = put(tmp_path / "elsewhere", "links.csv")
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(other, one_drop.path)  # a new inode under the same name
    assert tracker.ready([one_drop], monotonic=104.0) == []
    assert tracker.ready([one_drop], monotonic=109.0) == [one_drop]


def test_a_vanished_file_is_skipped_and_forgotten(one_drop):
    tracker = SettleTracker(5)
    assert tracker.ready([one_drop], monotonic=100.0) == []
    one_drop.path.unlink()
    assert tracker.ready([one_drop], monotonic=106.0) == []
    put(one_drop.path.parent, one_drop.path.name)  # comes back later: a new file, a new wait
    assert tracker.ready([one_drop], monotonic=107.0) == []
    assert tracker.ready([one_drop], monotonic=112.0) == [one_drop]


def test_a_file_not_seen_in_a_scan_starts_over(one_drop):
    tracker = SettleTracker(5)
    assert tracker.ready([one_drop], monotonic=100.0) == []
    assert tracker.ready([], monotonic=103.0) == []
    assert tracker.ready([one_drop], monotonic=106.0) == [], "the clock started again at 106"
    assert tracker.ready([one_drop], monotonic=111.0) == [one_drop]


def test_settle_zero_takes_a_file_at_first_sight(one_drop):
    assert SettleTracker(0).ready([one_drop], monotonic=100.0) == [one_drop]


def test_files_settle_independently(settings, one_drop):
    second = Drop(put(one_drop.path.parent, "more.csv"), "RVA", Operation.CREATE)
    tracker = SettleTracker(5)
    assert tracker.ready([one_drop], monotonic=100.0) == []
    assert tracker.ready([one_drop, second], monotonic=103.0) == []
    assert tracker.ready([one_drop, second], monotonic=105.0) == [one_drop]
    assert tracker.ready([second], monotonic=108.0) == [second]


# --- scan_inbox ----------------------------------------------------------------------------------


def test_scan_returns_drops_of_known_institutions(settings):
    first = put(settings.inbox / "RVA" / "create", "b.csv")
    second = put(settings.inbox / "RVA" / "create", "a.csv")
    third = put(settings.inbox / "KSZ" / "lookup-insz", "q.csv", "insz\n90010100123\n")
    drops = scan_inbox(settings, now=NOW)
    assert drops == [
        Drop(third, "KSZ", Operation.LOOKUP_INSZ),
        Drop(second, "RVA", Operation.CREATE),
        Drop(first, "RVA", Operation.CREATE),
    ]
    assert all(d.path.exists() for d in drops), "a scan takes nothing"


def test_scan_of_a_missing_inbox_is_empty(settings):
    settings.inbox.rename(settings.root / "gone")
    assert scan_inbox(settings, now=NOW) == []


def test_files_of_an_unknown_institution_are_moved_to_quarantine(settings):
    path = put(settings.inbox / "EVIL" / "create", "links.csv")
    hidden = put(settings.inbox / "EVIL" / "create", ".upload.csv.part")

    assert scan_inbox(settings, now=NOW) == []

    target = quarantined(settings, "EVIL/create/links.csv")
    assert not path.exists()
    assert target.read_text(encoding="utf-8") == CONTENT, "moved whole, never deleted"
    assert hidden.exists(), "a file still being written is left alone"
    assert not (settings.outbox / "EVIL").exists(), "no answer to an unknown institution"
    assert not any(settings.work.glob("B*")), "never claimed"


def test_an_unknown_operation_folder_is_moved_to_quarantine(settings):
    typo = put(settings.inbox / "RVA" / "lookup", "q.csv", "insz\n90010100123\n")
    good = put(settings.inbox / "RVA" / "create", "links.csv")

    assert scan_inbox(settings, now=NOW) == [Drop(good, "RVA", Operation.CREATE)]

    moved = quarantined(settings, "RVA/lookup")
    assert not typo.parent.exists()
    assert moved.is_dir()
    assert (moved / "q.csv").read_text(encoding="utf-8") == "insz\n90010100123\n"


def test_a_file_where_an_institution_folder_should_be_is_moved_to_quarantine(settings):
    stray = put(settings.inbox, "links.csv")
    assert scan_inbox(settings, now=NOW) == []
    assert not stray.exists()
    assert quarantined(settings, "links.csv").exists()


def test_a_symlinked_file_is_moved_as_a_link_and_never_followed(settings, tmp_path):
    secret = put(tmp_path / "outside", "secret.csv", "do not read me\n")
    link = settings.inbox / "RVA" / "create" / "links.csv"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(secret)

    assert scan_inbox(settings, now=NOW) == []

    moved = quarantined(settings, "RVA/create/links.csv")
    assert not link.exists() and not link.is_symlink()
    assert moved.is_symlink(), "the link itself was moved"
    assert os.readlink(moved) == str(secret)
    assert secret.read_text(encoding="utf-8") == "do not read me\n", "the target is untouched"


def test_a_symlinked_operation_folder_is_moved_as_a_link(settings, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    inner = put(elsewhere, "links.csv")
    (settings.inbox / "RVA" / "create").rmdir()
    (settings.inbox / "RVA" / "create").symlink_to(elsewhere, target_is_directory=True)

    assert scan_inbox(settings, now=NOW) == []

    moved = quarantined(settings, "RVA/create")
    assert moved.is_symlink()
    assert inner.exists(), "the folder it points to keeps its file"


def test_a_symlinked_institution_folder_is_moved_as_a_link(settings, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    inner = put(elsewhere / "create", "links.csv")
    (settings.inbox / "RVA").rename(tmp_path / "old-rva")
    (settings.inbox / "RVA").symlink_to(elsewhere, target_is_directory=True)

    assert scan_inbox(settings, now=NOW) == []

    assert quarantined(settings, "RVA").is_symlink()
    assert inner.exists()


def test_a_folder_inside_an_operation_folder_is_moved_to_quarantine(settings):
    nested = put(settings.inbox / "RVA" / "create" / "sub", "links.csv")
    assert scan_inbox(settings, now=NOW) == []
    assert not nested.exists()
    assert quarantined(settings, "RVA/create/sub/links.csv").exists()


# --- claim ---------------------------------------------------------------------------------------


def test_claim_moves_the_file_atomically_into_the_work_folder(settings, one_drop):
    inode = one_drop.path.stat().st_ino

    claimed = claim(one_drop, settings, now=NOW)

    assert claimed is not None
    work_dir = settings.work / claimed.batch_id
    assert claimed.input_path == work_dir / "input" / "links.csv"
    assert not one_drop.path.exists()
    assert claimed.input_path.stat().st_ino == inode, "renamed, not copied"
    assert claimed.input_path.read_text(encoding="utf-8") == CONTENT
    assert (claimed.institution, claimed.operation, claimed.file_name) == (
        "RVA",
        Operation.CREATE,
        "links.csv",
    )
    assert claimed.received_at == NOW
    assert claimed.batch_id.startswith("B20240517T093015")
    record = json.loads((work_dir / CLAIM_FILE).read_text(encoding="utf-8"))
    assert record == {
        "institution": "RVA",
        "operation": "create",
        "file": "links.csv",
        "received_at": NOW.isoformat(),
    }
    assert sorted(p.name for p in work_dir.iterdir()) == [CLAIM_FILE, "input"]
    assert read_claim(work_dir) == claimed, "recovery reads back the same claim"


def test_two_claims_at_the_same_instant_get_distinct_batches(settings):
    folder = settings.inbox / "RVA" / "create"
    first = claim(Drop(put(folder, "a.csv"), "RVA", Operation.CREATE), settings, now=NOW)
    second = claim(Drop(put(folder, "b.csv"), "RVA", Operation.CREATE), settings, now=NOW)
    assert first is not None and second is not None
    assert first.batch_id != second.batch_id


def test_claim_under_another_name(settings, one_drop):
    claimed = claim(one_drop, settings, now=NOW, name="renamed.csv")
    assert claimed is not None
    assert claimed.input_path.name == "renamed.csv"
    assert read_claim(claimed.input_path.parent.parent) == claimed


def test_claim_of_a_vanished_file_leaves_nothing_behind(settings, one_drop):
    one_drop.path.unlink()
    assert claim(one_drop, settings, now=NOW) is None
    assert [p.name for p in settings.work.iterdir() if p.name != ".lock"] == []


def test_read_claim_without_the_input_is_none(settings, one_drop):
    claimed = claim(one_drop, settings, now=NOW)
    assert claimed is not None
    claimed.input_path.unlink()
    assert read_claim(claimed.input_path.parent.parent) is None


def test_read_claim_without_a_claim_record_is_none(settings, tmp_path):
    work_dir = settings.work / "B20240517T093015000000Z-abcdef"
    put(work_dir / "input", "links.csv")
    assert read_claim(work_dir) is None


# --- quarantine name clashes ---------------------------------------------------------------------


def test_two_strays_with_the_same_path_in_the_same_second_are_both_kept(settings):
    put(settings.inbox / "EVIL" / "create", "links.csv", "first\n")
    scan_inbox(settings, now=NOW)
    put(settings.inbox / "EVIL" / "create", "links.csv", "second\n")
    scan_inbox(settings, now=NOW)  # a watch loop polls several times a second
    kept = sorted(
        p.read_text(encoding="utf-8") for p in settings.quarantine.rglob("*") if p.is_file()
    )
    assert kept == ["first\n", "second\n"], "nothing is ever deleted"


def test_an_unknown_operation_folder_twice_in_the_same_second_does_not_stop_the_scan(settings):
    put(settings.inbox / "RVA" / "lookup", "a.csv")
    scan_inbox(settings, now=NOW)
    put(settings.inbox / "RVA" / "lookup", "b.csv")
    good = put(settings.inbox / "RVA" / "create", "links.csv")
    assert scan_inbox(settings, now=NOW) == [Drop(good, "RVA", Operation.CREATE)]


@pytest.mark.parametrize("size", [0, 1, 7, 100])
def test_file_digest_is_the_sha256_and_size_of_the_whole_file(tmp_path, monkeypatch, size):
    """Read in blocks (seven bytes here, so that a file spans several, the last one short)."""
    monkeypatch.setattr(files, "_DIGEST_BLOCK", 7)
    data = bytes(range(256))[:size]
    path = tmp_path / "drop.csv"
    path.write_bytes(data)
    assert files.file_digest(path) == (hashlib.sha256(data).hexdigest(), size)


def test_file_digest_is_given_up_once_stopped(tmp_path):
    """An interrupted pass does not wait for a large file to be hashed to its end."""
    path = tmp_path / "drop.csv"
    path.write_bytes(b"insz\n" * 10)
    stop = threading.Event()
    stop.set()
    with pytest.raises(InterruptedError):
        files.file_digest(path, stop=stop)
