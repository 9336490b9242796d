"""``linkreg demo``: a root with a synthetic store and sample drops, processed, summarised.

Every number here is computed from the rules (valid check digits), not taken from real people.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from pipeline.config import load_settings
from pipeline.processor import FileReport
from pipeline.run import process_inbox
from pipeline.setup import init_root
from pipeline.synthetic import mutate_insz, synthetic_insz
from schemas.formats.generate import generate_valid_keys

# (country, key type, rule id of the catalogue, share of the links)
_KEY_MIX = (
    ("NL", "TAX_NUMBER", "NL-BSN", 0.3),
    ("FR", "SOCIAL_SECURITY", "FR-NIR", 0.2),
    ("DE", "TAX_NUMBER", "DE-IDNR", 0.2),
    ("ES", "IDENTITY_CARD", "ES-DNI-NIE", 0.1),
    ("PL", "NATIONAL_NUMBER", "PL-PESEL", 0.1),
    ("IT", "TAX_NUMBER", "IT-CF", 0.1),
)


def build_demo(root: Path, *, links: int = 30_000, seed: int = 20261128) -> list[FileReport]:
    """Initialises ``root``, loads ``links`` synthetic links, drops the samples, processes all."""
    settings = init_root(root)
    today = dt.date.today()
    people = synthetic_insz(links, seed=seed, reference_date=today)
    store_links = _synthetic_links(people, seed=seed)
    admin = next(i.name for i in settings.institutions.values() if i.admin)
    user = next((i.name for i in settings.institutions.values() if not i.admin), admin)
    inbox = settings.inbox
    _write(store_links, inbox / admin / "create" / "demo-links.parquet")
    reports = process_inbox(load_settings(root), settle_seconds=0)

    sample = store_links.sample(200, seed=seed)
    _drop_lookups(sample, people, inbox / user, seed=seed)
    _drop_creates(sample, people, inbox / user / "create", seed=seed)
    _drop_updates(sample, inbox / user / "update")
    _drop_rejected(inbox / user)
    reports += process_inbox(load_settings(root), settle_seconds=0)
    return reports


def _synthetic_links(people: pl.Series, *, seed: int) -> pl.DataFrame:
    """One link per person, keys drawn from the catalogue's generators by country."""
    parts = []
    start = 0
    for number, (country, key_type, rule_id, share) in enumerate(_KEY_MIX):
        count = len(people) - start if number == len(_KEY_MIX) - 1 else int(len(people) * share)
        keys = generate_valid_keys(rule_id, count, seed=seed + number)
        parts.append(
            pl.DataFrame(
                {
                    "insz": people.slice(start, count),
                    "country": [country] * count,
                    "key_type": [key_type] * count,
                    "foreign_key": keys,
                }
            )
        )
        start += count
    frame = pl.concat(parts)
    return frame.unique(["country", "foreign_key"], keep="first", maintain_order=True).with_columns(
        pl.lit("2020-01-01").alias("valid_from"), pl.lit(None, pl.String).alias("valid_to")
    )


def _drop_lookups(sample: pl.DataFrame, people: pl.Series, folder: Path, *, seed: int) -> None:
    """A nightly lookup in Belgian spreadsheet style (``;``, BOM, printed INSZ) and a key lookup."""
    printed = sample["insz"].str.replace(r"^(\d{2})(\d{2})(\d{2})(\d{3})(\d{2})$", "$1.$2.$3-$4.$5")
    lookups = pl.concat(
        [
            pl.DataFrame({"insz": printed.head(150), "as_of": None}),
            pl.DataFrame({"insz": mutate_insz(sample["insz"].tail(30), seed=seed), "as_of": None}),
            pl.DataFrame({"insz": sample["insz"].slice(150, 20), "as_of": ["2019-06-30"] * 20}),
        ],
        how="vertical_relaxed",
    ).with_columns(pl.format("night-{}", pl.int_range(pl.len())).alias("ref"))
    target = folder / "lookup-insz" / "nightly.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\xef\xbb\xbf" + lookups.write_csv(separator=";").encode())
    keys = sample.select("country", "foreign_key").with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0)
        .then(pl.col("foreign_key").str.slice(0, 3))  # too short: INVALID_KEY_FORMAT
        .otherwise(pl.col("foreign_key"))
        .alias("foreign_key")
    )
    _write(keys, folder / "lookup-key" / "keys.parquet")


def _drop_creates(sample: pl.DataFrame, people: pl.Series, folder: Path, *, seed: int) -> None:
    """New links, with conflicts, an existing link, a duplicate row and invalid rows."""
    fresh = synthetic_insz(20, seed=seed + 1, reference_date=dt.date.today())
    first = sample.row(0, named=True)
    rows = [
        *(
            {"insz": insz, "country": "LU", "key_type": "PASSPORT", "foreign_key": f"LU{n:07d}X"}
            for n, insz in enumerate(fresh)
        ),
        {**first, "insz": fresh[0]},  # key of another INSZ
        first,  # already exists
        {"insz": fresh[1], "country": "LU", "key_type": "PASSPORT", "foreign_key": "LU0000001X"},
        {"insz": "90010100124", "country": "NL", "key_type": "PASSPORT", "foreign_key": "NX12345"},
        {"insz": fresh[2], "country": "BE", "key_type": "PASSPORT", "foreign_key": "P1234567"},
        {"insz": fresh[3], "country": "NL", "key_type": "SHOE_SIZE", "foreign_key": "P1234567"},
        {"insz": fresh[4], "country": "NL", "key_type": "PASSPORT", "foreign_key": "=cmd()"},
        {
            "insz": fresh[5],
            "country": "NL",
            "key_type": "PASSPORT",
            "foreign_key": "NP99999",
            "valid_from": "2024-02-30",
        },
        {
            "insz": fresh[6],
            "country": "NL",
            "key_type": "PASSPORT",
            "foreign_key": "NP88888",
            "valid_from": "2025-01-01",
            "valid_to": "2024-01-01",
        },
        {"insz": fresh[7], "country": "", "key_type": "PASSPORT", "foreign_key": "NP77777"},
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            name: pl.String
            for name in ("insz", "country", "key_type", "foreign_key", "valid_from", "valid_to")
        },
    )
    target = folder / "new-links.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(target)


def _drop_updates(sample: pl.DataFrame, folder: Path) -> None:
    """Links given an end date, in the same pass as the new links: one with a date that does
    not exist, one whose period would end before it starts, one that names another person."""
    links = sample.tail(5).select("insz", "country", "key_type", "foreign_key", "valid_from")
    frame = links.with_columns(
        pl.Series("valid_to", ["2026-12-31", "2026-12-31", "2027-02-30", "2019-12-31", None]),
        pl.Series("insz", [*links["insz"].head(4), sample["insz"][0]]),
    )
    target = folder / "periods.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(target)


def _drop_rejected(folder: Path) -> None:
    """A typo in a column name rejects the whole file: a filter must never be dropped silently."""
    target = folder / "lookup-insz" / "typo.csv"
    target.write_text("insz,keytype\n90010100123,PASSPORT\n", encoding="utf-8")
    forbidden = folder / "delete" / "wipe.csv"
    forbidden.parent.mkdir(parents=True, exist_ok=True)
    forbidden.write_text("insz,country,key_type,foreign_key,reason\n", encoding="utf-8")


def _write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}")
    frame.write_parquet(temporary)
    temporary.rename(path)
