"""Times the key formats of a mixed-country create file against the same rows all routed to the
DEFAULT rule (a catalogue holding DEFAULT alone), and prints the ratio (target: at most 1.5).

    .venv/bin/python bench/formats_bench.py --rows 5000000 [--validation]

``apply_key_formats`` is timed by default; ``--validation`` also times the whole validation of
the create rows (``pipeline.validation.validate_chunk``: INSZ, country, key type, key format,
dates), the way ``linkreg process`` validates a file. Rows are synthetic: keys drawn from
``generate_valid_keys`` pools, one in twenty with a typing error, a quarter of the BSNs written
with dots; INSZ computed with valid check digits. Runs alternate, the best of each is kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import time
from collections.abc import Callable

import polars as pl

from pipeline.contract import Operation
from pipeline.validation import Rules, validate_chunk
from schemas.formats import Catalogue, apply_key_formats, load_catalogue
from schemas.formats.generate import generate_valid_keys

# (country, key type, the rule whose keys are drawn, weight): what a mass link load may hold.
MIX = (
    ("NL", "TAX_NUMBER", "NL-BSN", 9), ("NL", "PASSPORT", "DEFAULT", 4),
    ("FR", "SOCIAL_SECURITY", "FR-NIR", 9), ("FR", "IDENTITY_CARD", "DEFAULT", 3),
    ("DE", "TAX_NUMBER", "DE-IDNR", 6), ("DE", "PENSION", "DE-RVNR", 5),
    ("DE", "PASSPORT", "DEFAULT", 3), ("LU", "SOCIAL_SECURITY", "LU-MATRICULE", 5),
    ("IT", "TAX_NUMBER", "IT-CF", 6), ("ES", "IDENTITY_CARD", "ES-DNI-NIE", 5),
    ("PT", "TAX_NUMBER", "PT-NIF", 4), ("PL", "NATIONAL_NUMBER", "PL-PESEL", 5),
    ("RO", "NATIONAL_NUMBER", "RO-CNP", 4), ("TR", "NATIONAL_NUMBER", "TR-KIMLIK", 3),
    ("US", "SOCIAL_SECURITY", "US-SSN", 3), ("GB", "PASSPORT", "DEFAULT", 5),
    ("MA", "DRIVING_LICENCE", "DEFAULT", 3), ("NL", "EIDAS", "EIDAS", 5),
    ("IT", "PASSPORT", "DEFAULT", 3), ("PL", "IDENTITY_CARD", "DEFAULT", 3),
)  # fmt: skip
POOL = 20_000  # distinct keys per rule, drawn with replacement


def build_rows(rows: int, *, seed: int, catalogue: Catalogue) -> pl.DataFrame:
    """``rows`` create rows (row, insz, country, key_type, foreign_key), the kinds shuffled."""
    pools = {
        rule: generate_valid_keys(rule, POOL, seed=seed, catalogue=catalogue)
        for rule in {rule for _, _, rule, _ in MIX}
    }
    kinds = pl.DataFrame(
        [(country, key_type, rule) for country, key_type, rule, weight in MIX
         for _ in range(weight)],
        schema=["country", "key_type", "rule"], orient="row",
    )  # fmt: skip
    row = pl.int_range(0, rows, dtype=pl.UInt64)
    frame = pl.select(
        kind=(row.hash(seed) % kinds.height).cast(pl.UInt32),
        pick=(row.hash(seed + 1) % POOL).cast(pl.UInt32),
        typo=row.hash(seed + 2) % 20 == 0,
        insz=_insz(row.hash(seed + 3)),
    ).with_columns(pl.lit(kinds.to_struct("kind")).gather(pl.col("kind")).alias("kind"))
    parts = [
        part.with_columns(foreign_key=pools[rule].gather(part["pick"]))
        for (rule,), part in frame.unnest("kind").with_row_index("row", offset=1)
        .partition_by("rule", as_dict=True).items()
    ]  # fmt: skip
    key = pl.col("foreign_key")
    typed = pl.concat_str([key.str.slice(0, 2), pl.lit("7"), key.str.slice(3)])  # one changed
    dotted = pl.concat_str(  # 1234.56.782, as people write a BSN
        [key.str.slice(0, 4), pl.lit("."), key.str.slice(4, 2), pl.lit("."), key.str.slice(6)]
    )
    written = (
        pl.when(pl.col("typo")).then(typed)
        .when((pl.col("rule") == "NL-BSN") & (pl.col("pick") % 4 == 0)).then(dotted)
        .otherwise(key)
    )  # fmt: skip
    columns = ["insz", "country", "key_type", written.alias("foreign_key")]
    return pl.concat(parts).sort("row").select(pl.col("row").cast(pl.Int64), *columns)


def _insz(random: pl.Expr) -> pl.Expr:
    """National register numbers of people born in the 1900s: YYMMDD, serial, 97 - body mod 97."""
    body = (
        (random % 100) * 10**7 + (random // 100 % 12 + 1) * 10**5
        + (random // 1200 % 28 + 1) * 10**3 + random // 33600 % 997 + 1
    )  # fmt: skip
    check = (97 - body % 97).cast(pl.String).str.zfill(2)
    return pl.concat_str([body.cast(pl.String).str.zfill(9), check])


def best_times(
    runs: dict[str, Callable[[], object]], repeats: int
) -> dict[str, tuple[float, float]]:
    """The best (wall, CPU) seconds of each run; the runs alternate, so that all see the same
    load. CPU time (all threads) moves less than wall time on a busy machine."""
    best = dict.fromkeys(runs, (float("inf"), float("inf")))
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--validation", action="store_true", help="also time validate_chunk")
    options = parser.parse_args()

    catalogue = load_catalogue()
    default_only = dataclasses.replace(catalogue, rules=(catalogue.rule("DEFAULT"),))
    started = time.perf_counter()
    frame = build_rows(options.rows, seed=options.seed, catalogue=catalogue)
    print(f"{frame.height:,} rows built in {time.perf_counter() - started:.1f} s")
    checked = apply_key_formats(frame, catalogue=catalogue)
    shares = checked.group_by("key_rule").agg(pl.len(), pl.col("key_format_ok").mean())
    print(shares.sort("key_rule"))

    runs: dict[str, Callable[[], object]] = {
        "DEFAULT alone": lambda: apply_key_formats(frame, catalogue=default_only),
        "catalogue": lambda: apply_key_formats(frame, catalogue=catalogue),
    }
    if options.validation:
        runs |= _validation_runs(frame, catalogue=catalogue, default_only=default_only)
    best = best_times(runs, options.repeats)
    for name, (wall, cpu) in best.items():
        rate = frame.height / wall
        print(f"{name:<26} {wall:7.3f} s wall {cpu:7.3f} s CPU {rate:>11,.0f} rows/s")
    pairs = [("apply_key_formats", "catalogue", "DEFAULT alone")]
    if options.validation:
        pairs.append(("whole validation", "validation, catalogue", "validation, DEFAULT alone"))
    for label, mixed, default in pairs:
        wall = best[mixed][0] / best[default][0]
        cpu = best[mixed][1] / best[default][1]
        print(f"ratio {label:<18} {wall:.2f} wall, {cpu:.2f} CPU (target <= 1.5)")


def _validation_runs(
    frame: pl.DataFrame, *, catalogue: Catalogue, default_only: Catalogue
) -> dict[str, Callable[[], object]]:
    def rules(with_catalogue: Catalogue) -> Rules:
        return Rules(reference_date=dt.date(2026, 11, 29), catalogue=with_catalogue,
                     country_aliases={"EL": "GR", "UK": "GB"})  # fmt: skip

    return {
        "validation, DEFAULT alone": lambda: validate_chunk(
            frame, operation=Operation.CREATE, rules=rules(default_only)
        ),
        "validation, catalogue": lambda: validate_chunk(
            frame, operation=Operation.CREATE, rules=rules(catalogue)
        ),
    }


if __name__ == "__main__":
    main()
