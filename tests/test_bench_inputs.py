"""bench/run_bench.py's files: the status counts each must get are the ones the processor gives."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import polars as pl

from tests.conftest import receipt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from run_bench import CONTESTED, generate_inputs


def test_the_contested_load_gets_the_counts_the_bench_expects(tmp_path, root, run):
    """The load's links with one in a hundred repeated further on and one in a hundred of their
    keys given further on to a second INSZ: each added row after the row it copies, and the
    receipt the bench checks (the contested rows' answers put in their places)."""
    (tmp_path / "inputs").mkdir()
    inputs = generate_inputs(tmp_path / "inputs", links=20_000, requests=10_000)
    source = inputs.files["parquet"][CONTESTED]
    load = pl.read_parquet(inputs.files["parquet"]["create"])
    contested = pl.read_parquet(source)

    expected = inputs.expected[CONTESTED]
    assert contested.height == sum(expected.values()) > load.height
    assert expected["CONFLICT"] > 150 and expected["REJECTED"] > 550
    key = ("country", "key_type", "foreign_key")
    first = contested.with_row_index("at").group_by(key).agg(pl.col("at").min())
    assert first.height == load.height, "every added row names a key of the load"
    original = contested.with_row_index("at").join(load, on=[*key, "insz"], how="semi")
    assert original.unique(key, keep="first")["at"].sort().equals(first["at"].sort())

    inbox = root / "inbox" / "KSZ" / "create"
    inbox.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, inbox / source.name)
    run()
    assert receipt(root, "KSZ", "create", source.stem)["counts"]["status"] == expected
