"""Benchmarks `linkreg process` end to end against the bare DuckDB floor, at two sizes.

Run: .venv/bin/python bench/run_bench.py --links 200k --requests 100k --second-size 10x
See bench/README.md for what is measured and the figures of the last run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from pipeline.synthetic import mutate_insz, synthetic_insz
from schemas.formats.generate import generate_valid_keys

SEED = 20260101
FORMATS = ("csv", "parquet")
STEPS = ("create", "lookup-insz", "lookup-key")
# Everyday drops after the mass load and the nightly lookups, against the loaded store: a few
# rows each, so that what a small file pays for a large store shows (no floor: the work is tiny).
SMALL_ROWS = 1_000
SMALL_STEPS = ("create", "update", "delete", "lookup-insz", "lookup-key")
SMALL = "small "  # the prefix of their step names
# With --stress, files shaped to test memory rather than speed, after the small drops (no
# floor): a key lookup of eIDAS identifiers of 200 characters with 36-character refs (one may
# have 256), and an INSZ lookup asking over and over for one person with many links, whom a
# `stress create` first gives passports of STRESS_COUNTRIES.
STRESS = "stress "
STRESS_STEPS = ("create", "lookup-insz", "lookup-key")
STRESS_KEY_CHARS = 200
STRESS_ASKED_ROWS = 100_000  # at most: each row of that INSZ lookup has 30-odd answers
STRESS_COUNTRIES = ("AT", "BG", "CY", "CZ", "DK", "EE", "FI", "GR", "HR", "HU", "IE", "IS", "IT",
                    "LI", "LT", "LU", "LV", "MT", "NO", "PT", "RO", "SE", "SI", "SK", "CH", "US",
                    "CA", "AU", "JP", "BR")  # fmt: skip
# A second mass load, into an empty store of its own, against its own floor: the load's links
# again, with contested rows among them, whose answers depend on other rows (every
# CONTESTED_EVERY-th valid link repeated further on, and the key of another given further on to
# an INSZ of nobody else).
CONTESTED_PREFIX = "contested "
CONTESTED = f"{CONTESTED_PREFIX}create"
CONTESTED_EVERY = 100  # 1 % repeated, 1 % keys given to a second INSZ
MEASURED_STEPS = (*STEPS, CONTESTED)  # those with a floor
INSTITUTION = "KSZ"
# Who writes the Parquet request files. Their layout matters to the floor: DuckDB's `CREATE
# TABLE ... AS` of the 2M-row load took 1.9-2.0 s from polars' file (16 row groups of 125,000
# rows) or from DuckDB's own `COPY` (122,880), and 1.0-1.1 s from pyarrow's (two row groups of
# 1,048,576) or from polars with row groups of 122,880 (session 20). linkreg's load takes the
# same time from each.
PARQUET_WRITERS = {
    "polars": lambda frame, path: frame.write_parquet(path),
    "pyarrow": lambda frame, path: pq.write_table(frame.to_arrow(), path),
}
# (country, key type, format rule, share of the links); the rest are GB passports (DEFAULT).
# DE-IDNR is left out: its generator is too slow for millions; FR-NIR (~150 us a key) is kept small.
KEY_MIX = (
    ("NL", "TAX_NUMBER", "NL-BSN", 0.35),
    ("ES", "IDENTITY_CARD", "ES-DNI-NIE", 0.15),
    ("PL", "NATIONAL_NUMBER", "PL-PESEL", 0.15),
    ("FR", "SOCIAL_SECURITY", "FR-NIR", 0.05),
)
PASSPORT_COUNTRY = "GB"
INVALID_EVERY = 50  # every 50th link row gets a broken INSZ: 2 %
TIME_BIN = Path("/usr/bin/time")
CONFIG = f"""[settings]
store = "data/linkreg.duckdb"
settle_seconds = 0

[institutions.{INSTITUTION}]
operations = ["*"]
admin = true
"""
FLOOR_SCRIPT = (
    "import duckdb, sys; db = duckdb.connect(sys.argv[1]);"
    " db.execute('SET enable_progress_bar = false'); db.execute(sys.argv[2])"
)


@dataclass(frozen=True)
class Inputs:
    """The request files of one size, per format and step, and the receipt each should get."""

    links: int
    requests: int
    files: dict[str, dict[str, Path]]  # by format, then step ("small update" for a small drop)
    expected: dict[str, dict[str, int]]  # status counts, by step


@dataclass(frozen=True)
class Measurement:
    """One timed step: a `linkreg process` pass or the bare DuckDB statement it is compared to."""

    links: int
    file_format: str
    step: str
    kind: str  # "linkreg" or "floor"
    rows: int
    seconds: float
    peak_rss_mb: float | None
    cpu_seconds: float | None = None  # user + system: steadier than wall time on a shared machine
    batch_seconds: float | None = None  # from the log: batch started -> finished
    stages: dict[str, float] = field(default_factory=dict)  # from the log: seconds per stage
    check: str = "ok"
    repeat: int = 0  # which of the run's repetitions (``--repeat``) measured it
    # A floor's process start, measured beside it: Python, duckdb, the database opened.
    start_seconds: float | None = None
    # 1-minute load average when the step ended: above nproc, other work shared the CPUs.
    load_average: float = field(default_factory=lambda: round(os.getloadavg()[0], 2))

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class Report:
    """Everything one run measured, written as JSON."""

    date: str
    machine: dict[str, object]
    versions: dict[str, str]
    arguments: dict[str, object]
    measurements: list[Measurement] = field(default_factory=list)


# ---------------------------------------------------------------- synthetic data


def generate_inputs(
    folder: Path,
    *,
    links: int,
    requests: int,
    stress: bool = False,
    parquet_writer: str = "polars",
) -> Inputs:
    """Links (2 % invalid INSZ), lookup-insz and lookup-key requests, as CSV and Parquet; with
    ``stress``, the ``STRESS_STEPS`` files too. Parquet is written by ``parquet_writer``
    (``PARQUET_WRITERS``)."""
    today = dt.date.today()
    passports = links - sum(int(links * share) for *_, share in KEY_MIX)
    people_count = links - passports
    unknown_insz = int(requests * 0.07)
    everyone = synthetic_insz(people_count + unknown_insz, seed=SEED, reference_date=today)
    people = everyone.head(people_count)
    unknown_keys = int(requests * 0.08)
    passport_keys = generate_valid_keys("DEFAULT", passports + unknown_keys, seed=SEED)

    parts, start = [], 0
    for number, (country, key_type, rule_id, share) in enumerate(KEY_MIX):
        count = int(links * share)
        keys = generate_valid_keys(rule_id, count, seed=SEED + number + 1)
        parts.append(_links_frame(people.slice(start, count), country, key_type, keys))
        start += count
    # Passports go to the first people: they have two links each.
    parts.append(
        _links_frame(
            people.head(passports), PASSPORT_COUNTRY, "PASSPORT", passport_keys.head(passports)
        )
    )
    frame = pl.concat(parts).sample(fraction=1.0, shuffle=True, seed=SEED)
    broken = pl.int_range(pl.len()) % INVALID_EVERY == 0
    frame = frame.with_columns(
        pl.when(broken).then(mutate_insz(frame["insz"], seed=SEED)).otherwise("insz").alias("insz")
    )
    invalid_links = frame.select(broken.sum()).item()
    valid = frame.filter(~broken)
    contested, contested_counts = _contested_load(
        frame, valid=frame.select(~broken).to_series(), strangers=everyone.tail(unknown_insz)
    )

    exist = requests - unknown_insz - int(requests * 0.03)
    lookup_insz = pl.concat(
        [
            valid.select("insz").sample(exist, with_replacement=True, seed=SEED),
            everyone.tail(unknown_insz).to_frame("insz"),
            mutate_insz(
                valid["insz"].sample(requests - exist - unknown_insz, seed=SEED), seed=1
            ).to_frame("insz"),
        ]
    )
    invalid_keys = int(requests * 0.02)
    found_keys = requests - unknown_keys - invalid_keys
    pairs = valid.select("country", "foreign_key")
    lookup_key = pl.concat(
        [
            pairs.sample(found_keys, with_replacement=True, seed=SEED),
            passport_keys.tail(unknown_keys)
            .to_frame("foreign_key")
            .select(pl.lit(PASSPORT_COUNTRY).alias("country"), "foreign_key"),
            pairs.sample(invalid_keys, seed=SEED + 1).with_columns(country=pl.lit("XX")),
        ]
    )
    frames = {
        "create": frame,
        CONTESTED: contested,
        "lookup-insz": _with_ref(lookup_insz),
        "lookup-key": _with_ref(lookup_key),
    }
    small_frames, expected_later = _small_drops(valid)
    frames |= small_frames
    if stress:
        stress_frames, stress_expected = _stress_drops(valid, requests=requests)
        frames |= stress_frames
        expected_later |= stress_expected
    files: dict[str, dict[str, Path]] = {fmt: {} for fmt in FORMATS}
    for step, data in frames.items():
        for fmt in FORMATS:
            path = folder / f"{file_stem(step)}-{data.height}.{fmt}"
            if fmt == "csv":
                data.write_csv(path)
            else:
                PARQUET_WRITERS[parquet_writer](data, path)
            files[fmt][step] = path
    expected = {
        "create": {"CREATED": links - invalid_links, "REJECTED": invalid_links},
        CONTESTED: contested_counts,
        "lookup-insz": {
            "FOUND": exist,
            "NOT_FOUND": unknown_insz,
            "REJECTED": requests - exist - unknown_insz,
        },
        "lookup-key": {
            "FOUND": found_keys,
            "NOT_FOUND": unknown_keys,
            "REJECTED": invalid_keys,
        },
    } | expected_later
    return Inputs(links=links, requests=requests, files=files, expected=expected)


def _contested_load(
    load: pl.DataFrame, *, valid: pl.Series, strangers: pl.Series
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The load's links with contested rows among them (``CONTESTED``), and the status counts
    they must get. Each added row comes 1 to 1,000 rows after the row it copies, so that the
    contested rows are spread over the file."""
    rows = load.with_row_index("at").filter(valid)
    repeated = rows.gather_every(CONTESTED_EVERY)
    clashing = rows.gather_every(CONTESTED_EVERY, offset=CONTESTED_EVERY // 2)
    clashing = clashing.head(strangers.len())
    clashing = clashing.with_columns(insz=strangers.head(clashing.height))
    position = pl.col("at").cast(pl.Int64)
    added = pl.concat([repeated, clashing]).with_columns(
        order=(position + (pl.col("at").hash(SEED) % 1000).cast(pl.Int64) + 1) * 2 + 1
    )
    placed = pl.concat([load.with_row_index("at").with_columns(order=position * 2), added])
    expected = {
        "CREATED": rows.height,
        "REJECTED": load.height - rows.height + repeated.height,
        "CONFLICT": clashing.height,
    }
    return placed.sort("order", maintain_order=True).drop("at", "order"), expected


def _small_drops(valid: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], dict[str, dict[str, int]]]:
    """The everyday drops (``SMALL_STEPS``), from the valid links of the mass load, and the
    status counts they must get: new passports for some of its people, a new period for some of
    its links, other links deleted, and lookups of links that are left.

    The new passports are of the store's passport country, which its links fill (a country it
    does not hold would let DuckDB skip them), with numbers of a shape the store's passports
    (two letters, seven digits) cannot have."""
    rows = min(SMALL_ROWS, valid.height // 4)
    named = valid.select("insz", "country", "key_type", "foreign_key")
    new_passports = "N" + pl.int_range(rows, eager=True).cast(pl.String).str.zfill(8)
    frames = {
        "create": _links_frame(
            valid["insz"].head(rows), PASSPORT_COUNTRY, "PASSPORT", new_passports
        ),
        "update": valid.head(rows).with_columns(valid_to=pl.lit("2031-12-31")),
        "delete": named.slice(rows, rows).with_columns(reason=pl.lit("benchmark")),
        "lookup-insz": _with_ref(named.slice(2 * rows, rows).select("insz")),
        "lookup-key": _with_ref(named.slice(2 * rows, rows).select("country", "foreign_key")),
    }
    status = {"create": "CREATED", "update": "UPDATED", "delete": "DELETED"}
    expected = {f"{SMALL}{step}": {status.get(step, "FOUND"): rows} for step in frames}
    return {f"{SMALL}{step}": frame for step, frame in frames.items()}, expected


def _stress_drops(
    valid: pl.DataFrame, *, requests: int
) -> tuple[dict[str, pl.DataFrame], dict[str, dict[str, int]]]:
    """The ``STRESS_STEPS`` files and the status counts they must get (see ``STRESS``)."""
    person = valid["insz"][0]
    count = len(STRESS_COUNTRIES)
    passports = _links_frame(
        pl.repeat(person, count, eager=True),
        pl.Series(STRESS_COUNTRIES),
        "PASSPORT",
        "S" + pl.int_range(count, eager=True).cast(pl.String).str.zfill(7),
    )
    asked = min(requests, STRESS_ASKED_ROWS)
    digits = pl.concat_str(pl.int_range(requests).hash(seed) for seed in range(12))
    wide = pl.DataFrame({"n": pl.int_range(requests, eager=True)}).select(
        pl.lit("NL").alias("country"),
        pl.concat_str(pl.lit("NL/BE/"), digits).str.slice(0, STRESS_KEY_CHARS).alias("foreign_key"),
        pl.concat_str(pl.int_range(requests).hash(99), digits).str.slice(0, 36).alias("ref"),
    )
    frames = {
        "create": passports,
        "lookup-insz": _with_ref(pl.DataFrame({"insz": pl.repeat(person, asked, eager=True)})),
        "lookup-key": wide,
    }
    expected = {
        "create": {"CREATED": count},
        "lookup-insz": {"FOUND": asked},
        "lookup-key": {"NOT_FOUND": requests},
    }
    return (
        {f"{STRESS}{step}": frame for step, frame in frames.items()},
        {f"{STRESS}{step}": counts for step, counts in expected.items()},
    )


def operation_of(step: str) -> str:
    """The operation of a step: the inbox folder its file is dropped in."""
    return step.removeprefix(SMALL).removeprefix(STRESS).removeprefix(CONTESTED_PREFIX)


def file_stem(step: str) -> str:
    """A step's name in file names: ``small update`` as ``small-update``."""
    return step.replace(" ", "-")


def _links_frame(
    insz: pl.Series, country: str | pl.Series, key_type: str, keys: pl.Series
) -> pl.DataFrame:
    return pl.DataFrame({"insz": insz, "foreign_key": keys}).select(
        "insz",
        pl.lit(country).alias("country"),
        pl.lit(key_type).alias("key_type"),
        "foreign_key",
        pl.lit("2020-01-01").alias("valid_from"),
        pl.lit(None, pl.String).alias("valid_to"),
    )


def _with_ref(frame: pl.DataFrame) -> pl.DataFrame:
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=SEED)
    return shuffled.with_columns(ref=pl.format("q{}", pl.int_range(1, pl.len() + 1)))


# ---------------------------------------------------------------- measuring a child process


@dataclass(frozen=True)
class Run:
    """What one child process took."""

    seconds: float  # wall time
    peak_rss_mb: float | None
    cpu_seconds: float | None  # user + system, on all cores: steadier than wall time
    code: int


def run_measured(command: list[str], *, log: Path, env: dict[str, str] | None = None) -> Run:
    """Wall and CPU seconds, peak RSS and exit code of one child process (in ``env``, else
    this one's environment); its output goes to log."""
    rss_file = log.with_suffix(".rss")
    if TIME_BIN.exists():
        command = [str(TIME_BIN), "-f", "%M %U %S", "-o", str(rss_file), *command]
    with log.open("wb") as output:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        peak_kb = 0
        while child.poll() is None:  # fallback sampling, when /usr/bin/time is missing
            peak_kb = max(peak_kb, _vm_hwm_kb(child.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - start
    cpu = None
    if TIME_BIN.exists():
        peak, user, system = rss_file.read_text().split()[-3:]
        peak_kb, cpu = int(peak), float(user) + float(system)
    peak_mb = peak_kb / 1024 if peak_kb else None
    return Run(seconds, peak_mb, cpu, child.returncode)


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------- the floor: bare DuckDB


def measure_floor(inputs: Inputs, fmt: str, folder: Path, *, repeat: int = 0) -> list[Measurement]:
    """Load, then the two lookups as one left join each, in a fresh DuckDB file, no validation."""
    folder.mkdir(parents=True)
    database = folder / "floor.duckdb"
    files = inputs.files[fmt]
    reader = "read_csv({!r}, all_varchar=true)" if fmt == "csv" else "read_parquet({!r})"
    found = "l.country, l.key_type, l.foreign_key, l.valid_from, l.valid_to"
    statements = {
        "create": f"CREATE TABLE links AS SELECT * FROM {reader.format(str(files['create']))}",
        CONTESTED: "CREATE TABLE contested AS SELECT *"
        f" FROM {reader.format(str(files[CONTESTED]))}",
        "lookup-insz": f"SELECT r.*, {found} FROM {reader.format(str(files['lookup-insz']))} r"
        " LEFT JOIN links l ON r.insz = l.insz",
        "lookup-key": "SELECT r.*, l.insz, l.key_type, l.valid_from, l.valid_to"
        f" FROM {reader.format(str(files['lookup-key']))} r LEFT JOIN links l"
        " ON r.country = l.country AND r.foreign_key = l.foreign_key",
    }
    measurements = []
    for step, query in statements.items():
        result = folder / f"{step}.result.{fmt}"
        loads = operation_of(step) == "create"
        sql = query if loads else f"COPY ({query}) TO '{result}' (FORMAT {fmt})"
        command = [sys.executable, "-c", FLOOR_SCRIPT, str(database), sql]
        run = run_measured(command, log=folder / f"{file_stem(step)}.log")
        rows = sum(inputs.expected[step].values()) if loads else inputs.requests
        check = "ok" if run.code == 0 else f"exit {run.code}: see {folder / f'{step}.log'}"
        measurements.append(
            Measurement(
                inputs.links, fmt, step, "floor", rows, run.seconds, run.peak_rss_mb,
                cpu_seconds=run.cpu_seconds, check=check, repeat=repeat,
            )
        )  # fmt: skip
    command = [sys.executable, "-c", FLOOR_SCRIPT, str(database), "SELECT 1"]
    start = run_measured(command, log=folder / "start.log")
    return [replace(measurement, start_seconds=start.seconds) for measurement in measurements]


# ---------------------------------------------------------------- LinkRegister through the inbox


def measure_linkreg(inputs: Inputs, fmt: str, root: Path, *, repeat: int = 0) -> list[Measurement]:
    """A fresh root; each file dropped in the inbox and answered by one `linkreg process`. The
    contested load goes into a fresh root of its own (``contested_root``)."""
    linkreg = str(Path(sys.executable).with_name("linkreg"))
    for new in (root, contested_root(root)):
        subprocess.run([linkreg, "init", "--root", str(new)], check=True, capture_output=True)
        (new / "linkreg.toml").write_text(CONFIG, encoding="utf-8")
    measurements = []
    steps = [*MEASURED_STEPS, *(f"{SMALL}{operation}" for operation in SMALL_STEPS)]
    steps += [f"{STRESS}{operation}" for operation in STRESS_STEPS]
    for step in (step for step in steps if step in inputs.expected):
        operation = operation_of(step)
        source = inputs.files[fmt][step]
        home = contested_root(root) if step == CONTESTED else root
        inbox = home / "inbox" / INSTITUTION / operation
        inbox.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, inbox / f".{source.name}.part")  # hidden until whole
        (inbox / f".{source.name}.part").rename(inbox / source.name)
        log = home / f"process-{file_stem(step)}.log"
        command = [linkreg, "-v", "process", "--root", str(home), "--settle", "0"]
        run = run_measured(command, log=log)
        rows = sum(inputs.expected[step].values())
        check = check_receipt(
            home, operation, source, rows=rows, expected=inputs.expected[step], code=run.code,
            log=log,
        )  # fmt: skip
        measurements.append(
            Measurement(
                inputs.links, fmt, step, "linkreg", rows, run.seconds, run.peak_rss_mb,
                cpu_seconds=run.cpu_seconds, batch_seconds=logged_batch_seconds(log),
                stages=logged_stages(log), check=check, repeat=repeat,
            )
        )  # fmt: skip
    return measurements


def contested_root(root: Path) -> Path:
    """Where the contested load of a measurement in ``root`` goes: an empty store of its own."""
    return root.with_name(f"{root.name}-contested")


def check_receipt(
    root: Path,
    step: str,
    source: Path,
    *,
    rows: int,
    expected: dict[str, int],
    code: int,
    log: Path,
) -> str:
    receipt_path = root / "outbox" / INSTITUTION / step / f"{source.stem}.receipt.json"
    if code != 0 or not receipt_path.exists():
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return f"exit {code}, no receipt: {lines[-1] if lines else ''} (see {log})"
    receipt = json.loads(receipt_path.read_text(encoding="utf-8"))
    status_counts = receipt.get("counts", {}).get("status", {})
    if receipt["status"] != "ACCEPTED" or receipt["rows"] != rows or status_counts != expected:
        return f"receipt {receipt['status']} rows={receipt['rows']} counts={receipt['counts']}"
    return "ok"


def logged_batch_seconds(log: Path) -> float | None:
    """Seconds between the 'batch started' and 'batch finished' JSON log lines."""
    moments = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            for word in ("started", "finished"):
                if event["event"].startswith("batch ") and f" {word}:" in event["event"]:
                    moments[word] = dt.datetime.fromisoformat(event["at"])
    if len(moments) < 2:
        return None
    return (moments["finished"] - moments["started"]).total_seconds()


def logged_stages(log: Path) -> dict[str, float]:
    """The batch's 'stages: read 0.26 s, validate 0.69 s, ...' log line as a dict."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            event = json.loads(line)["event"]
            if event.startswith("batch ") and " stages: " in event:
                parts = event.split(" stages: ", 1)[1].split(", ")
                return {part.rsplit(" ", 2)[0]: float(part.rsplit(" ", 2)[1]) for part in parts}
    return {}


# ---------------------------------------------------------------- one size, the report


def bench_size(
    *,
    links: int,
    requests: int,
    workdir: Path,
    console: Console,
    repeats: int = 1,
    keep: bool,
    stress: bool = False,
    parquet_writer: str = "polars",
) -> list[Measurement]:
    """Each repetition measures the floor, then linkreg, on the same files, in fresh folders:
    a floor and the linkreg run compared with it are a minute apart at most."""
    folder = workdir / f"links-{links}"
    shutil.rmtree(folder, ignore_errors=True)  # a kept folder of an earlier run
    folder.mkdir(parents=True)
    started = time.perf_counter()
    inputs = generate_inputs(
        folder, links=links, requests=requests, stress=stress, parquet_writer=parquet_writer
    )
    console.log(f"{links:,} links / {requests:,} requests generated in "
                f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    measurements = []
    for repeat in range(repeats):
        for fmt in FORMATS:
            suffix = f"{fmt}-{repeat + 1}" if repeats > 1 else fmt
            floor, root = folder / f"floor-{suffix}", folder / f"root-{suffix}"
            measurements += measure_floor(inputs, fmt, floor, repeat=repeat)
            measurements += measure_linkreg(inputs, fmt, root, repeat=repeat)
            if not keep and repeat + 1 < repeats:  # the stores of a large size take room
                for used in (floor, root, contested_root(root)):
                    shutil.rmtree(used)
            console.log(f"{links:,} links, {fmt}: measured ({repeat + 1} of {repeats})")
    return measurements


def floors(measurements: list[Measurement]) -> dict[tuple[int, str, str, int], Measurement]:
    """The floor of each size, format, step and repetition."""
    return {
        (m.links, m.file_format, m.step, m.repeat): m for m in measurements if m.kind == "floor"
    }


def ratio(measurement: Measurement, floor_by_step: dict[tuple[int, str, str, int], Measurement]
          ) -> float | None:  # fmt: skip
    """A linkreg run's time over the floor of the same repetition (measured beside it)."""
    floor = _paired_floor(measurement, floor_by_step)
    return measurement.seconds / floor.seconds if floor and floor.seconds else None


def least_ratio(
    measurement: Measurement, floor_by_step: dict[tuple[int, str, str, int], Measurement]
) -> float | None:
    """The ratio a linkreg run would have had if its batch had taken as long as the floor's
    own work (the floor less its process start): what its process start and end alone cost."""
    floor = _paired_floor(measurement, floor_by_step)
    if floor is None or floor.start_seconds is None or not floor.seconds:
        return None
    if measurement.batch_seconds is None:
        return None
    outside = measurement.seconds - measurement.batch_seconds
    return (outside + max(floor.seconds - floor.start_seconds, 0.0)) / floor.seconds


def _paired_floor(
    measurement: Measurement, floor_by_step: dict[tuple[int, str, str, int], Measurement]
) -> Measurement | None:
    """The floor of a linkreg run's size, format, step and repetition; None for a floor."""
    if measurement.kind != "linkreg":
        return None
    key = (measurement.links, measurement.file_format, measurement.step, measurement.repeat)
    return floor_by_step.get(key)


@dataclass(frozen=True)
class Summary:
    """One step over the repetitions: its runs, and their ratios to the floors beside them."""

    runs: tuple[Measurement, ...]  # sorted by seconds
    ratios: tuple[float, ...]  # linkreg over its own repetition's floor, sorted

    @property
    def median(self) -> Measurement:
        """The run of median seconds (the lower one of two)."""
        return self.runs[(len(self.runs) - 1) // 2]

    @property
    def median_ratio(self) -> float | None:
        return self.ratios[(len(self.ratios) - 1) // 2] if self.ratios else None

    @property
    def checks(self) -> str:
        return ", ".join(sorted({run.check for run in self.runs}))


def summarise(measurements: list[Measurement]) -> list[Summary]:
    """Per size, format, step and kind, in the order first measured."""
    runs: dict[tuple[int, str, str, str], list[Measurement]] = {}
    for m in measurements:
        runs.setdefault((m.links, m.file_format, m.step, m.kind), []).append(m)
    floor_by_step = floors(measurements)
    return [
        Summary(
            runs=tuple(sorted(group, key=lambda m: m.seconds)),
            ratios=tuple(sorted(r for m in group if (r := ratio(m, floor_by_step)) is not None)),
        )
        for group in runs.values()
    ]


def growth(measurements: list[Measurement]) -> list[dict[str, object]]:
    """Time at the larger size / time at the smaller, per format, step and kind (median runs)."""
    measurements = [summary.median for summary in summarise(measurements)]
    sizes = sorted({m.links for m in measurements})
    if len(sizes) < 2:
        return []
    small, big = sizes[0], sizes[-1]
    by_key = {(m.links, m.file_format, m.step, m.kind): m for m in measurements}
    rows = []
    for (links, fmt, step, kind), m_small in by_key.items():
        m_big = by_key.get((big, fmt, step, kind))
        if links != small or m_big is None or step not in MEASURED_STEPS:  # small: same rows
            continue
        rows.append({
            "format": fmt, "step": step, "kind": kind,
            "rows_factor": round(m_big.rows / m_small.rows, 2),
            "time_factor": round(m_big.seconds / m_small.seconds, 2),
            "in_batch_factor": round(m_big.batch_seconds / m_small.batch_seconds, 2)
            if m_big.batch_seconds and m_small.batch_seconds else None,
            "target": round(1.1 * m_big.rows / m_small.rows, 2),
        })  # fmt: skip
    return rows


def print_tables(report: Report, console: Console) -> None:
    summaries = summarise(report.measurements)
    repeats = 1 + max((m.repeat for m in report.measurements), default=0)
    title = "linkreg process vs bare DuckDB (floor)"
    if repeats > 1:
        title += f": the median of {repeats} runs; ratios to the floor of the same repetition"
    table = Table(title=title)
    floor_of = {
        (s.median.links, s.median.file_format, s.median.step): s.median
        for s in summaries
        if s.median.kind == "floor"
    }
    floor_by_step = floors(report.measurements)
    spread = ("ratio range",) if repeats > 1 else ()
    for name in ("links", "format", "step", "rows", "linkreg s", "in batch s", "CPU s", "rows/s",
                 "peak MB", "floor s", "floor CPU s", "floor MB", "ratio", *spread,
                 "least ratio", "check"):  # fmt: skip
        table.add_column(
            name,
            justify="left" if name in ("format", "step", "check") else "right",
            no_wrap=name == "step",
        )
    for summary in summaries:
        m = summary.median
        if m.kind != "linkreg":
            continue
        floor = floor_of.get((m.links, m.file_format, m.step))
        ratios = summary.ratios
        ranges = (f"{ratios[0]:.2f}-{ratios[-1]:.2f}" if ratios else "-",) if spread else ()
        least = least_ratio(m, floor_by_step)
        table.add_row(
            f"{m.links:,}", m.file_format, m.step, f"{m.rows:,}", f"{m.seconds:.2f}",
            f"{m.batch_seconds:.2f}" if m.batch_seconds is not None else "-",
            _seconds(m.cpu_seconds), f"{m.rows_per_second:,.0f}", _mb(m.peak_rss_mb),
            f"{floor.seconds:.2f}" if floor else "-",
            _seconds(floor.cpu_seconds) if floor else "-",
            _mb(floor.peak_rss_mb) if floor else "-",
            f"{summary.median_ratio:.2f}" if summary.median_ratio else "-", *ranges,
            f"{least:.2f}" if least else "-", summary.checks,
        )  # fmt: skip
    console.print(table)
    stages = Table(title="linkreg: seconds per stage inside the batch (from its log)")
    names = list(dict.fromkeys(name for m in report.measurements for name in m.stages))
    for name in ("links", "format", "step", *names):
        stages.add_column(name, justify="left" if name in ("format", "step") else "right")
    for m in (summary.median for summary in summaries):
        if m.kind == "linkreg" and m.stages:
            stages.add_row(
                f"{m.links:,}", m.file_format, m.step,
                *(f"{m.stages[name]:.2f}" if name in m.stages else "-" for name in names),
            )  # fmt: skip
    console.print(stages)
    grown = growth(report.measurements)
    if grown:
        table = Table(title="growth: time at the larger size / time at the smaller")
        for name in grown[0]:
            table.add_column(name)
        for row in grown:
            table.add_row(*("-" if value is None else str(value) for value in row.values()))
        console.print(table)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def machine() -> dict[str, object]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    ram_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "")
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "ram_gb": round(ram_kb / 1024**2, 1),
        "cpu": model or platform.processor(),
        "platform": platform.platform(),
    }


def versions() -> dict[str, str]:
    """Versions, and a digest of the code measured: pipeline/ and schemas/ change under us."""
    repository = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted([*repository.glob("pipeline/**/*"), *repository.glob("schemas/**/*")]):
        if path.is_file() and path.suffix in (".py", ".csv", ".toml"):
            digest.update(path.relative_to(repository).as_posix().encode() + path.read_bytes())
    return {
        "python": platform.python_version(),
        **{name: metadata.version(name) for name in ("polars", "duckdb", "linkregister")},
        "code_sha256": digest.hexdigest()[:16],
    }


def parse_size(text: str) -> int:
    """200k, 2M, 1.5M or 5000."""
    factors = {"k": 1_000, "m": 1_000_000}
    suffix = text[-1].lower()
    if suffix in factors:
        return int(float(text[:-1]) * factors[suffix])
    return int(text)


def parse_factor(text: str) -> float:
    """10x or 0.1x."""
    return float(text.lower().removesuffix("x"))


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=parse_size, default=parse_size("200k"))
    parser.add_argument("--requests", type=parse_size, default=parse_size("100k"))
    parser.add_argument(
        "--second-size",
        type=parse_factor,
        default=10.0,
        help="the second size as a factor of the first: 10x, 0.1x; 1x = none",
    )
    parser.add_argument("--quick", action="store_true", help="20k links, 10k requests")
    parser.add_argument("--out", type=Path, default=Path("bench/out/results.json"))
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--stress",
        action="store_true",
        help="also files shaped to test memory: keys of 200 characters, one person asked for"
        " over and over (no floor)",
    )
    parser.add_argument(
        "--parquet-writer",
        choices=sorted(PARQUET_WRITERS),
        default="polars",
        help="what writes the Parquet files (their row groups and pages differ, and DuckDB's"
        " load of them, the floor, with them)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each size this many times (floor and linkreg side by side each time);"
        " the tables show the median run and the spread",
    )
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.links, arguments.requests = 20_000, 10_000
    if arguments.repeat < 1:
        parser.error("--repeat must be 1 or more")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    console = Console(width=200)
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="linkreg-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = Report(
        date=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        machine=machine(),
        versions=versions(),
        arguments={k: str(v) for k, v in vars(arguments).items()},
    )
    sizes = [(arguments.links, arguments.requests)]
    if arguments.second_size != 1:
        factor = arguments.second_size
        sizes.append((int(arguments.links * factor), int(arguments.requests * factor)))
    try:
        for links, requests in sizes:
            report.measurements += bench_size(
                links=links,
                requests=requests,
                workdir=workdir,
                console=console,
                repeats=arguments.repeat,
                keep=arguments.keep,
                stress=arguments.stress,
                parquet_writer=arguments.parquet_writer,
            )
            if not arguments.keep:
                shutil.rmtree(workdir / f"links-{links}")
    finally:
        if not arguments.keep and arguments.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        elif arguments.keep:
            console.log(f"work folder kept: {workdir}")
    print_tables(report, console)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    document = asdict(report) | {"growth": growth(report.measurements)}
    floor_by_step = floors(report.measurements)
    for entry, measurement in zip(document["measurements"], report.measurements, strict=True):
        entry["rows_per_second"] = round(measurement.rows_per_second)
        paired = ratio(measurement, floor_by_step)  # None for a floor
        if paired is not None:
            entry["ratio_to_floor"] = round(paired, 2)
        least = least_ratio(measurement, floor_by_step)
        if least is not None:
            entry["least_ratio"] = round(least, 2)
    if arguments.repeat > 1:
        document["summary"] = [
            {
                "links": s.median.links, "format": s.median.file_format, "step": s.median.step,
                "kind": s.median.kind, "median_seconds": round(s.median.seconds, 3),
                "least_seconds": round(s.runs[0].seconds, 3),
                "most_seconds": round(s.runs[-1].seconds, 3),
                "median_ratio_to_floor": round(s.median_ratio, 2) if s.median_ratio else None,
                "ratios_to_floor": [round(r, 2) for r in s.ratios],
            }
            for s in summarise(report.measurements)
        ]  # fmt: skip
    arguments.out.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    console.log(f"written: {arguments.out}")
    return 0 if all(m.check == "ok" for m in report.measurements) else 1


if __name__ == "__main__":
    sys.exit(main())
