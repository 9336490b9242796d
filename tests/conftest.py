"""Fixtures: a fresh root per test, and helpers to drop files and read what came back."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from pipeline.config import Settings, load_settings
from pipeline.processor import FileReport
from pipeline.run import process_inbox
from pipeline.setup import init_root

CONFIG = """\
[settings]
store = "data/linkreg.duckdb"
settle_seconds = 0

[institutions.RVA]
operations = ["lookup-insz", "lookup-key", "create", "update", "report", "formats"]

[institutions.KSZ]
operations = ["*"]
admin = true

[institutions.ONEM]
operations = ["lookup-insz"]
"""

# Synthetic numbers of DOMAIN.md, computed from the rules: not real people.
INSZ_1990 = "90010100123"
INSZ_2001 = "01020300269"
INSZ_BIS = "72431501191"
INSZ_UNKNOWN_DATE = "50000012354"
BSN_A = "123456782"
BSN_B = "111222333"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    (folder / "linkreg.toml").write_text(CONFIG, encoding="utf-8")
    init_root(folder)
    return folder


@pytest.fixture
def settings(root: Path) -> Settings:
    return load_settings(root)


@pytest.fixture
def drop(root: Path) -> Callable[..., Path]:
    """Writes a request file into ``inbox/<institution>/<operation>/``."""

    def write(institution: str, operation: str, name: str, content: str | bytes) -> Path:
        folder = root / "inbox" / institution / operation
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    return write


@pytest.fixture
def run(root: Path) -> Callable[..., list[FileReport]]:
    def process(**options: object) -> list[FileReport]:
        return process_inbox(load_settings(root), settle_seconds=0, **options)  # type: ignore[arg-type]

    return process


def receipt(root: Path, institution: str, operation: str, name: str) -> dict[str, object]:
    path = root / "outbox" / institution / operation / f"{name}.receipt.json"
    document: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return document


def result_csv(
    root: Path, institution: str, operation: str, name: str, *, separator: str = ","
) -> pl.DataFrame:
    path = root / "outbox" / institution / operation / f"{name}.result.csv"
    return pl.read_csv(path, separator=separator, infer_schema=False)
