"""The ``linkreg`` command: exit codes, messages, and each command on a real root."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

import polars as pl
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.terminal import print_table
from tests.conftest import BSN_A, INSZ_1990, INSZ_2001

LINKS = f"insz,country,key_type,foreign_key\n{INSZ_1990},NL,TAX_NUMBER,{BSN_A}\n"


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def loaded(root, drop, cli):
    drop("KSZ", "create", "links.csv", LINKS)
    assert cli("process", "--root", str(root), "--settle", "0").exit_code == 0
    return root


def test_init_writes_config_folders_and_store(tmp_path, cli):
    result = cli("init", "--root", str(tmp_path / "new"))
    assert result.exit_code == 0
    assert (tmp_path / "new" / "linkreg.toml").exists()
    assert (tmp_path / "new" / "inbox" / "RVA" / "lookup-insz").is_dir()
    assert (tmp_path / "new" / "data" / "linkreg.duckdb").exists()


def test_root_from_environment(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("LINKREG_ROOT", str(tmp_path / "env-root"))
    assert cli("init").exit_code == 0
    assert (tmp_path / "env-root" / "linkreg.toml").exists()


def test_broken_configuration_names_the_line_and_exits_1(root, cli):
    config = root / "linkreg.toml"
    config.write_text(config.read_text().replace('"lookup-insz"]', '"lookup"]'))
    result = cli("process", "--root", str(root), "--settle", "0")
    assert result.exit_code == 1
    assert "linkreg.toml line 13: [institutions.ONEM]" in result.output
    assert "unknown operation `lookup`" in result.output


def test_invalid_toml_exits_1(root, cli):
    (root / "linkreg.toml").write_text("[settings\n")
    result = cli("process", "--root", str(root))
    assert result.exit_code == 1
    assert "linkreg.toml" in result.output


def test_missing_configuration_says_how_to_fix(tmp_path, cli):
    result = cli("process", "--root", str(tmp_path))
    assert result.exit_code == 1
    assert "linkreg init" in result.output


def test_usage_error_exits_2(root, cli):
    assert cli("process", "--root", str(root), "--settle", "-1").exit_code == 2
    assert cli("lookup", "--root", str(root)).exit_code == 2
    assert cli("lookup", "--root", str(root), "--key", "x").exit_code == 2


def test_lookup_at_a_terminal(loaded, cli):
    result = cli("lookup", "--root", str(loaded), "--insz", "90.01.01-001.23")
    assert result.exit_code == 0
    assert BSN_A in result.output and "FOUND" in result.output
    by_key = cli("lookup", "--root", str(loaded), "--country", "nl", "--key", "123.456.782")
    assert INSZ_1990 in by_key.output


def test_formats_command(root, cli):
    result = cli("formats", "--root", str(root), "--country", "NL")
    assert result.exit_code == 0
    assert "NL-BSN" in result.output and "DEFAULT" in result.output
    assert "FR-NIR" not in result.output


def test_status_json_is_parseable(loaded, drop, cli):
    drop("RVA", "lookup-insz", "waiting.csv", f"insz\n{INSZ_2001}\n")
    document = json.loads(cli("status", "--root", str(loaded), "--json").stdout)
    assert document["batches"][0]["institution"] == "KSZ"
    assert document["batches"][0]["counts"]["status"] == {"CREATED": 1}
    assert [w["file"] for w in document["waiting"]] == ["waiting.csv"]


def test_audit_lists_consultations_and_changes(loaded, drop, cli):
    drop("RVA", "lookup-insz", "who.csv", f"insz\n{INSZ_1990}\n")
    cli("process", "--root", str(loaded), "--settle", "0")
    result = cli("audit", "--root", str(loaded), "--insz", INSZ_1990, "--csv")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("at,action,institution")
    actions = [line.split(",")[1:3] for line in lines[1:]]
    assert actions == [["LOOKUP-INSZ", "RVA"], ["CREATE", "KSZ"]]
    trail = pl.read_csv(io.StringIO(result.stdout), infer_schema=False)
    assert trail.filter(pl.col("action") == "LOOKUP-INSZ")["answers"].to_list() == ["1"]


def test_admin_delete_and_history(loaded, cli):
    result = cli(
        "admin", "delete", "--root", str(loaded), "--insz", INSZ_1990, "--country", "NL",
        "--key-type", "TAX_NUMBER", "--key", BSN_A, "--reason", "entered by mistake",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("DELETED")
    trail = cli("audit", "--root", str(loaded), "--country", "NL", "--key", BSN_A, "--csv")
    assert "DELETE,KSZ" in trail.output and "entered by mistake" in trail.output


def test_admin_review_queue_resolve_and_replace_insz(loaded, drop, cli):
    """The administrator's commands at the terminal: a reported link listed, then deleted by
    its review; a resolved report refused again (exit 1, one line); an INSZ replaced."""
    report = f"insz,country,key_type,foreign_key,reason\n{INSZ_1990},NL,TAX_NUMBER,{BSN_A},doubt\n"
    drop("RVA", "report", "doubt.csv", report)
    cli("process", "--root", str(loaded), "--settle", "0")
    queue = cli("admin", "queue", "--root", str(loaded))
    assert queue.exit_code == 0 and "doubt" in queue.stdout and "OPEN" in queue.stdout

    resolve = ("admin", "resolve", "--root", str(loaded), "1", "--delete", "--note", "checked")
    assert cli(*resolve).stdout == "report 1: deleted\n"
    again = cli(*resolve)
    assert again.exit_code == 1
    assert again.output == "Error: report 1 is already deleted\n"
    undecided = cli("admin", "resolve", "--root", str(loaded), "1", "--note", "checked")
    assert undecided.exit_code == 2 and "choose --delete or --dismiss" in undecided.output

    drop(
        "KSZ",
        "create",
        "more.csv",
        f"insz,country,key_type,foreign_key\n{INSZ_2001},NL,PASSPORT,NP1234567\n",
    )
    cli("process", "--root", str(loaded), "--settle", "0")
    moved = cli(
        "admin", "replace-insz", "--root", str(loaded), "--old", INSZ_2001, "--new", INSZ_1990
    )
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.startswith("1 link(s) moved")
    same = cli(
        "admin", "replace-insz", "--root", str(loaded), "--old", INSZ_1990, "--new", INSZ_1990
    )
    assert same.exit_code == 1
    assert same.output == "Error: the old and the new INSZ are the same number\n"


def test_backup_refused_while_processing_and_restorable(loaded, cli, tmp_path):
    from pipeline.lock import ProcessorLock

    target = tmp_path / "backup.duckdb"
    with ProcessorLock(loaded / "work"):
        busy = cli("backup", "--root", str(loaded), str(target))
    assert busy.exit_code == 1 and "another linkreg process" in busy.output
    assert cli("backup", "--root", str(loaded), str(target)).exit_code == 0
    shutil.copyfile(target, loaded / "data" / "linkreg.duckdb")  # the restore of the README
    again = cli("lookup", "--root", str(loaded), "--insz", INSZ_1990)
    assert BSN_A in again.output


def test_demo_builds_and_processes_a_root(tmp_path, cli):
    result = cli("demo", "--root", str(tmp_path / "demo"), "--links", "500")
    assert result.exit_code == 0, result.output
    assert "OPERATION_NOT_ALLOWED" in result.output and "UNKNOWN_COL" in result.output
    # not a terminal: the summary is plain text, a tab between columns
    lines = result.output.splitlines()
    header = lines.index("institution\toperation\tfile\treceipt\trows\tanswers")
    assert lines[header - 1] == "files answered"
    rows = [line.split("\t") for line in lines[header + 1 :] if "\t" in line]
    assert len(rows) == 7 and {len(row) for row in rows} == {6}
    assert {row[3] for row in rows} == {
        "ACCEPTED", "REJECTED OPERATION_NOT_ALLOWED", "REJECTED UNKNOWN_COLUMNS"
    }  # fmt: skip
    receipts = list((tmp_path / "demo" / "outbox").rglob("*.receipt.json"))
    assert len(receipts) == 7
    statuses = {json.loads(path.read_text())["status"] for path in receipts}
    assert statuses == {"ACCEPTED", "REJECTED"}
    periods = json.loads(
        (tmp_path / "demo" / "outbox" / "RVA" / "update" / "periods.receipt.json").read_text()
    )
    assert periods["status"] == "ACCEPTED"  # after the creates, in the same pass
    assert periods["counts"]["status"] == {"NOT_FOUND": 1, "REJECTED": 2, "UPDATED": 2}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_tables_are_drawn_on_a_terminal_and_plain_text_elsewhere(monkeypatch):
    rows = [["KSZ", "a ref\twith  a tab"], ["RVA", ""]]
    monkeypatch.setattr(sys, "stdout", _Terminal())
    print_table(["institution", "ref"], rows, title="files")
    drawn = sys.stdout.getvalue()
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    print_table(["institution", "ref"], rows, title="files")
    plain = sys.stdout.getvalue()
    assert "┃" in drawn and "institution" in drawn and "\t" not in drawn
    assert plain == "files\ninstitution\tref\nKSZ\ta ref with a tab\nRVA\t\n"


def _pass_in_a_new_process(root, then: str) -> subprocess.CompletedProcess[str]:
    """``linkreg process`` over ``root`` in a Python process of its own (what it imports, and
    how, is the process's), then ``then`` printed there."""
    script = (
        "import gc, sys\n"
        "from pipeline.cli import main\n"
        "try:\n"
        "    main(['process', '--root', sys.argv[1], '--settle', '0'])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        f"print({then})\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_a_pass_over_an_empty_inbox_loads_no_frames_library(root):
    """cron may run `process` every minute: with nothing to answer it imports neither polars,
    pandera, pyarrow nor rich (a third of such a pass's time)."""
    done = _pass_in_a_new_process(
        root, "sorted({'polars', 'pandera', 'pyarrow', 'rich'} & set(sys.modules))"
    )
    assert "nothing to process" in done.stderr
    assert done.stdout.strip() == "[]"


def test_a_pass_imports_the_processor_without_collecting_and_collects_after(root, drop):
    """The processor's modules are imported with the cyclic garbage collector off and frozen
    after (some 35 ms of a process's start); the collector is on again for the batch and for
    the weeks a watch runs."""
    drop("KSZ", "lookup-insz", "night.csv", f"insz\n{INSZ_1990}\n")
    done = _pass_in_a_new_process(
        root, "'pandera' in sys.modules, gc.isenabled(), gc.get_freeze_count() > 10_000"
    )
    assert done.stdout.split()[-3:] == ["True", "True", "True"]


def test_logs_carry_no_personal_numbers(loaded, drop, cli, capsys):
    drop("RVA", "lookup-insz", "night.csv", f"insz\n{INSZ_1990}\n{INSZ_2001}\n90010100124\n")
    drop("RVA", "lookup-key", "keys.csv", f"country,foreign_key\nNL,{BSN_A}\n")
    result = CliRunner().invoke(main, ["-v", "process", "--root", str(loaded), "--settle", "0"])
    assert result.exit_code == 0
    logged = result.stderr
    assert "batch" in logged
    for number in (INSZ_1990, INSZ_2001, "90010100124", BSN_A):
        assert number not in logged


def test_report_day_is_a_self_contained_page(loaded, cli, tmp_path):
    out = tmp_path / "day.html"
    assert cli("report-day", "--root", str(loaded), "--out", str(out)).exit_code == 0
    page = out.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "links.csv" in page and "CREATED" in page
    assert "src=" not in page and "href=" not in page  # nothing to fetch


def test_audit_retention_removes_old_days_only(loaded):
    import datetime as dt

    from pipeline.config import load_settings
    from pipeline.run import prune_audit

    old = loaded / "audit" / "2001-01-01"
    old.mkdir(parents=True)
    (old / "x.parquet").write_bytes(b"")
    recent = loaded / "audit" / f"{dt.date.today():%Y-%m-%d}"
    recent.mkdir(parents=True, exist_ok=True)
    assert prune_audit(load_settings(loaded), today=dt.date.today()) == 1
    assert not old.exists() and recent.exists()


@pytest.mark.parametrize(
    ("args", "code", "stream", "says"),
    [
        (["--version"], 0, "stdout", "linkreg, version"),
        (["process", "--settle", "0"], 0, "stderr", "nothing to process"),
        (["no-such-command"], 2, "stderr", "No such command"),
        (["process", "--root", "{missing}"], 1, "stderr", "Error:"),
    ],
)
def test_the_console_script_flushes_its_output_and_keeps_the_exit_code(
    root, tmp_path, args, code, stream, says
):
    """``run`` leaves with ``os._exit``: what was printed must still arrive, with the code."""
    import subprocess

    command = [sys.executable, "-m", "pipeline.cli"]
    args = [arg.format(missing=tmp_path / "missing") for arg in args]
    done = subprocess.run(
        [*command, *args], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == code, done.stderr
    assert says in getattr(done, stream)
