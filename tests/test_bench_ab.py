"""bench/ab.py: two versions of the processor timed in alternating pairs on the same files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent


def _in_a_git_clone() -> bool:
    if shutil.which("git") is None:
        return False
    probe = subprocess.run(
        ["git", "-C", str(REPOSITORY), "rev-parse", "HEAD"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _in_a_git_clone(), reason="compares git revisions")
def test_ab_runs_each_side_from_its_own_code_in_alternating_pairs(tmp_path: Path):
    """Each side imports the processor from its own folder (ab.py stops otherwise), and the
    pairs alternate which side goes first."""
    out = tmp_path / "ab.json"
    done = subprocess.run(
        [sys.executable, str(REPOSITORY / "bench" / "ab.py"), "--base", "HEAD",
         "--step", "lookup-key", "--format", "csv", "--links", "2k", "--requests", "1k",
         "--pairs", "2", "--workdir", str(tmp_path / "work"), "--keep", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(out.read_text(encoding="utf-8"))
    runs = document["runs"]
    assert [(run["pair"], run["side"]) for run in runs] == [
        (1, "base"), (1, "head"), (2, "head"), (2, "base"),
    ]  # fmt: skip
    assert {run["check"] for run in runs} == {"ok"}
    assert all(run["batch_seconds"] and run["cpu_seconds"] for run in runs)
    assert document["sides"] == {"base": "HEAD", "head": "working tree"}
    assert set(document["summary"]) == {"base", "head"}
    assert document["head_quicker"]["batch_seconds"]["of"] == 2
    work = tmp_path / "work"
    assert (work / "base" / "pipeline" / "processor.py").exists()
    assert (work / "head" / "pipeline" / "processor.py").exists()


@pytest.mark.skipif(not _in_a_git_clone(), reason="compares git revisions")
def test_ab_refuses_a_revision_git_does_not_know(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, str(REPOSITORY / "bench" / "ab.py"), "--base", "no-such-revision",
         "--workdir", str(tmp_path / "work"), "--out", str(tmp_path / "ab.json")],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "cannot take the packages of 'no-such-revision' from git" in done.stderr
    assert not (tmp_path / "ab.json").exists()
