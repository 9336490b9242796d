"""The example scheduling files of deploy/: they must at least be valid for their tools."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).parent.parent / "deploy"
UNITS = ["linkreg-process.service", "linkreg-process.timer", "linkreg-watch.service"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_units_verify(tmp_path):
    linkreg = Path(sys.executable).with_name("linkreg")
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        # The examples name a service account and an install path; verify them against this machine's.
        text = text.replace("/opt/linkreg/.venv/bin/linkreg", str(linkreg))
        text = "\n".join(
            line for line in text.splitlines() if not line.startswith(("User=", "Group="))
        )
        (tmp_path / name).write_text(text + "\n")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *[str(tmp_path / name) for name in UNITS]],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [line for line in result.stderr.splitlines() if "linkreg" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_crontab_line_has_five_time_fields_and_the_command():
    lines = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(lines) == 1
    fields = lines[0].split()
    assert len(fields) > 6 and fields[5].startswith("LINKREG_ROOT=")
    assert "linkreg process" in lines[0]
