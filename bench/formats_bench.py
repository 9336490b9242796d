"""Validation of a create file with mixed countries, against the same rows under the default rule.

    .venv/bin/python bench/formats_bench.py --rows 5000000

Prints the seconds of both and their ratio (issue target: mixed at most 1.5x default). Both runs
validate the whole file the way `linkreg process` does (chunks of a million rows through
`validate_chunk`: normalisation, key formats, the pandera model); only the key rules differ.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import polars as pl

from pipeline.contract import Operation
from pipeline.synthetic import synthetic_insz
from pipeline.validation import Rules, validate_chunk
from schemas.countries import load_country_aliases
from schemas.formats import generate_valid_keys, load_catalogue

# (country, key type, rule) and its share of the mixed file
MIX = (
    ("NL", "TAX_NUMBER", "NL-BSN", 0.25),
    ("FR", "SOCIAL_SECURITY", "FR-NIR", 0.05),
    ("ES", "IDENTITY_CARD", "ES-DNI-NIE", 0.15),
    ("PL", "NATIONAL_NUMBER", "PL-PESEL", 0.15),
    ("IT", "TAX_NUMBER", "IT-CF", 0.1),
    ("LU", "NATIONAL_NUMBER", "LU-MATRICULE", 0.05),
    ("DE", "PENSION", "DE-RVNR", 0.05),
    ("GB", "PASSPORT", "DEFAULT", 0.2),
)
CHUNK = 1_000_000


def mixed_file(rows: int, *, seed: int) -> pl.DataFrame:
    """``rows`` create rows: valid INSZ, keys of several countries (a pool repeated per rule)."""
    people = synthetic_insz(rows, seed=seed, reference_date=dt.date.today())
    parts, start = [], 0
    catalogue = load_catalogue()
    for number, (country, key_type, rule_id, share) in enumerate(MIX):
        count = rows - start if number == len(MIX) - 1 else int(rows * share)
        pool = generate_valid_keys(
            rule_id, min(count, 50_000), seed=seed + number, catalogue=catalogue
        )
        keys = pool.sample(count, with_replacement=True, seed=seed)
        parts.append(
            pl.DataFrame(
                {"country": [country] * count, "key_type": [key_type] * count, "foreign_key": keys}
            )
        )
        start += count
    frame = pl.concat(parts).sample(fraction=1.0, shuffle=True, seed=seed)
    return frame.with_columns(insz=people).with_row_index("row", offset=1).with_columns(
        pl.col("row").cast(pl.Int64), ref=pl.lit(None, pl.String),
        valid_from=pl.lit(None, pl.String), valid_to=pl.lit(None, pl.String),
    )  # fmt: skip


def validate_all(frame: pl.DataFrame, rules: Rules) -> float:
    started = time.perf_counter()
    for offset in range(0, frame.height, CHUNK):
        validate_chunk(frame.slice(offset, CHUNK), operation=Operation.CREATE, rules=rules)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=7)
    arguments = parser.parse_args()
    rules = Rules(dt.date.today(), load_catalogue(), load_country_aliases())
    mixed = mixed_file(arguments.rows, seed=arguments.seed)
    default = mixed.with_columns(country=pl.lit("GB"), key_type=pl.lit("PASSPORT"))
    validate_all(mixed.head(10_000), rules)  # warm-up: imports, pandera's first validation
    default_seconds = validate_all(default, rules)
    mixed_seconds = validate_all(mixed, rules)
    ratio = mixed_seconds / default_seconds
    print(
        f"rows {arguments.rows:,}: default rule {default_seconds:.2f} s,"
        f" mixed countries {mixed_seconds:.2f} s, ratio {ratio:.2f}"
    )


if __name__ == "__main__":
    main()
