"""Compares two versions of the processor on the same files, in alternating pairs.

A ratio to the floor moves by a tenth with the machine's state (bench/README.md), so a change
worth a few per cent shows only against the code before it, minute by minute: each pair runs
the base and the head one after the other, on copies of the same root, the order alternating
from pair to pair. The CPU seconds, steadier than wall time, are reported beside.

Run: .venv/bin/python bench/ab.py --base HEAD~1 --step lookup-insz --format parquet --pairs 8
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_bench import (
    CONFIG,
    FORMATS,
    INSTITUTION,
    MEASURED_STEPS,
    Inputs,
    check_receipt,
    file_stem,
    generate_inputs,
    logged_batch_seconds,
    logged_stages,
    machine,
    operation_of,
    parse_size,
    run_measured,
)

REPOSITORY = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "schemas")  # what the two sides differ in; the libraries are shared
SIDES = ("base", "head")


@dataclass(frozen=True)
class Side:
    """One version of the processor: its packages in a folder of their own, run from there."""

    name: str
    revision: str  # a git revision, or "working tree"
    code: Path

    def command(self, *arguments: str) -> list[str]:
        # -P: no current directory on sys.path, which would put the repository's own
        # packages before this side's.
        return [sys.executable, "-P", "-m", "pipeline.cli", *arguments]

    @property
    def environment(self) -> dict[str, str]:
        return os.environ | {"PYTHONPATH": str(self.code)}


@dataclass(frozen=True)
class ABRun:
    side: str
    pair: int
    seconds: float
    batch_seconds: float | None
    cpu_seconds: float | None
    peak_rss_mb: float | None
    stages: dict[str, float] = field(default_factory=dict)
    check: str = "ok"


def code_tree(revision: str | None, folder: Path) -> Path:
    """The processor's packages at ``revision`` (None: as in the working tree), compiled, so
    that neither side pays for compiling them in its first run."""
    folder.mkdir(parents=True)
    if revision is None:
        for package in PACKAGES:
            ignored = shutil.ignore_patterns("__pycache__")
            shutil.copytree(REPOSITORY / package, folder / package, ignore=ignored)
    else:
        archive = subprocess.run(
            ["git", "-C", str(REPOSITORY), "archive", revision, *PACKAGES],
            check=False,
            capture_output=True,
        )
        if archive.returncode != 0:
            message = archive.stderr.decode(errors="replace").strip()
            raise SystemExit(f"cannot take the packages of {revision!r} from git: {message}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(folder, filter="data")
    compileall.compile_dir(folder, quiet=1)
    return folder


def _check_imports_from(side: Side) -> None:
    """The side's processor must be the one its folder holds, not an installed one."""
    where = subprocess.run(
        [sys.executable, "-P", "-c", "import pipeline; print(pipeline.__file__)"],
        env=side.environment,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not Path(where).is_relative_to(side.code):
        raise SystemExit(f"the {side.name} side imports pipeline from {where}, not {side.code}")


def new_root(side: Side, root: Path) -> Path:
    subprocess.run(side.command("init", "--root", str(root)), env=side.environment,
                   check=True, capture_output=True)  # fmt: skip
    (root / "linkreg.toml").write_text(CONFIG, encoding="utf-8")
    return root


def drop_and_process(
    side: Side, root: Path, inputs: Inputs, *, fmt: str, step: str, pair: int
) -> ABRun:
    """The step's file dropped in the root's inbox and answered by one `linkreg process`."""
    source = inputs.files[fmt][step]
    inbox = root / "inbox" / INSTITUTION / operation_of(step)
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, inbox / f".{source.name}.part")  # hidden until whole
    (inbox / f".{source.name}.part").rename(inbox / source.name)
    log = root / f"process-{file_stem(step)}.log"
    command = side.command("-v", "process", "--root", str(root), "--settle", "0")
    run = run_measured(command, log=log, env=side.environment)
    expected = inputs.expected[step]
    check = check_receipt(root, operation_of(step), source, rows=sum(expected.values()),
                          expected=expected, code=run.code, log=log)  # fmt: skip
    return ABRun(side.name, pair, run.seconds, logged_batch_seconds(log), run.cpu_seconds,
                 run.peak_rss_mb, logged_stages(log), check)  # fmt: skip


def compare(
    sides: dict[str, Side],
    inputs: Inputs,
    *,
    fmt: str,
    step: str,
    pairs: int,
    workdir: Path,
    console: Console,
) -> list[ABRun]:
    """``pairs`` pairs of runs, base and head in turns. A lookup runs on a copy of one root
    whose links the head loaded; a load, on a new empty root each time."""
    loaded = None
    if operation_of(step) != "create":
        loaded = new_root(sides["head"], workdir / "loaded")
        load = drop_and_process(sides["head"], loaded, inputs, fmt=fmt, step="create", pair=0)
        if load.check != "ok":
            raise SystemExit(f"loading the links failed: {load.check}")
        shutil.rmtree(loaded / "outbox")
    runs = []
    for pair in range(1, pairs + 1):
        order = SIDES if pair % 2 else SIDES[::-1]
        for name in order:
            root = workdir / f"pair-{pair}-{name}"
            if loaded is None:
                new_root(sides[name], root)
            else:
                shutil.copytree(loaded, root)
            run = drop_and_process(sides[name], root, inputs, fmt=fmt, step=step, pair=pair)
            runs.append(run)
            console.log(f"pair {pair}, {name}: {run.seconds:.2f} s, {run.check}")
            shutil.rmtree(root)
    return runs


def summary(runs: list[ABRun]) -> dict[str, dict[str, float | None]]:
    """Per side, the median of each measure over its runs."""
    measures = ("seconds", "batch_seconds", "cpu_seconds", "peak_rss_mb")
    result: dict[str, dict[str, float | None]] = {}
    for side in SIDES:
        mine = [run for run in runs if run.side == side]
        result[side] = {}
        for measure in measures:
            values = [getattr(run, measure) for run in mine if getattr(run, measure) is not None]
            result[side][measure] = round(statistics.median(values), 3) if values else None
    return result


def head_quicker(runs: list[ABRun], measure: str) -> tuple[int, int]:
    """In how many pairs the head took less than the base, and how many pairs had both."""
    by_pair: dict[int, dict[str, float]] = {}
    for run in runs:
        value = getattr(run, measure)
        if value is not None:
            by_pair.setdefault(run.pair, {})[run.side] = value
    complete = [values for values in by_pair.values() if len(values) == 2]
    return sum(values["head"] < values["base"] for values in complete), len(complete)


def print_summary(runs: list[ABRun], sides: dict[str, Side], console: Console) -> None:
    medians = summary(runs)
    table = Table(title="base against head: medians of the runs, alternating pairs")
    for heading in ("side", "code", "process s", "in batch s", "CPU s", "peak MB"):
        table.add_column(heading, justify="left" if heading in ("side", "code") else "right")
    for name in SIDES:
        values = medians[name]
        table.add_row(name, sides[name].revision, *(
            "-" if values[m] is None else f"{values[m]:.3f}"
            for m in ("seconds", "batch_seconds", "cpu_seconds")
        ), "-" if values["peak_rss_mb"] is None else f"{values['peak_rss_mb']:,.0f}")  # fmt: skip
    console.print(table)
    for measure, label in (("batch_seconds", "batch"), ("cpu_seconds", "CPU seconds")):
        quicker, complete = head_quicker(runs, measure)
        console.print(f"head's {label} lower in {quicker} of {complete} pairs")


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="a git revision: the code before")
    parser.add_argument("--head", help="a git revision (default: the working tree)")
    parser.add_argument("--step", choices=MEASURED_STEPS, default="lookup-insz")
    parser.add_argument("--format", choices=FORMATS, default="parquet")
    parser.add_argument("--links", type=parse_size, default=parse_size("2M"))
    parser.add_argument("--requests", type=parse_size, default=parse_size("1M"))
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("bench/out/ab.json"))
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    arguments = parser.parse_args(argv)
    if arguments.pairs < 1:
        parser.error("--pairs must be 1 or more")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    console = Console(width=160)
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="linkreg-ab-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        sides = {
            "base": Side("base", arguments.base, code_tree(arguments.base, workdir / "base")),
            "head": Side("head", arguments.head or "working tree",
                         code_tree(arguments.head, workdir / "head")),
        }  # fmt: skip
        for side in sides.values():
            _check_imports_from(side)
        (workdir / "inputs").mkdir()
        inputs = generate_inputs(
            workdir / "inputs", links=arguments.links, requests=arguments.requests
        )
        runs = compare(sides, inputs, fmt=arguments.format, step=arguments.step,
                       pairs=arguments.pairs, workdir=workdir, console=console)  # fmt: skip
    finally:
        if arguments.keep:
            console.log(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir / "base", ignore_errors=True)
            shutil.rmtree(workdir / "head", ignore_errors=True)
            shutil.rmtree(workdir / "inputs", ignore_errors=True)
            shutil.rmtree(workdir / "loaded", ignore_errors=True)
            if arguments.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
    print_summary(runs, sides, console)
    document = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "arguments": {key: str(value) for key, value in vars(arguments).items()},
        "sides": {name: side.revision for name, side in sides.items()},
        "runs": [asdict(run) for run in runs],
        "summary": summary(runs),
        "head_quicker": {
            measure: dict(zip(("pairs", "of"), head_quicker(runs, measure), strict=True))
            for measure in ("batch_seconds", "cpu_seconds")
        },
    }
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    console.log(f"written: {arguments.out}")
    return 0 if all(run.check == "ok" for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
