"""Country codes: aliases, normalisation, the ISO list without Belgium."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import iso3166
import polars as pl
import pytest

from schemas.countries import (
    CountryAliasError,
    is_valid_country,
    load_country_aliases,
    normalise_country,
)

ALIASES = {"EL": "GR", "UK": "GB"}


def normalised(codes: Sequence[str | None], aliases: dict[str, str] = ALIASES) -> list[str | None]:
    frame = pl.DataFrame({"country": codes}, schema={"country": pl.String})
    return frame.select(normalise_country(pl.col("country"), aliases=aliases)).to_series().to_list()


def verdicts(codes: Sequence[str | None]) -> list[bool | None]:
    frame = pl.DataFrame({"country": codes}, schema={"country": pl.String})
    return frame.select(is_valid_country(pl.col("country"))).to_series().to_list()


def test_packaged_aliases() -> None:
    assert load_country_aliases() == ALIASES


def test_aliases_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "aliases.csv"
    path.write_text("\ufeffalias,country\n el , gr \nUK,GB\n", encoding="utf-8")
    assert load_country_aliases(path) == ALIASES


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("code,iso\nEL,GR\n", "the header must be `alias,country`"),
        ("alias,country\nELL,GR\n", "line 2: `ELL,GR` is not an alias"),
        ("alias,country\nEL,GR\nUK,ZZ\n", "line 3: `UK,ZZ` is not an alias"),
        ("alias,country\nNL,DE\n", "line 2: `NL,DE` is not an alias"),  # an ISO code itself
        ("alias,country\nEL\n", "line 2: `EL,` is not an alias"),
    ],
)
def test_bad_alias_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "aliases.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CountryAliasError, match=message):
        load_country_aliases(path)


def test_missing_alias_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CountryAliasError, match="country_aliases_file"):
        load_country_aliases(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("EL", "GR"),
        ("el", "GR"),
        (" uk ", "GB"),
        ("gr", "GR"),
        (" nl\t", "NL"),
        ("be", "BE"),  # normalised, refused by is_valid_country
        ("xk", "XK"),
        ("zz", "ZZ"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalise_country(raw: str | None, code: str | None) -> None:
    assert normalised([raw]) == [code]


def test_normalise_country_without_aliases() -> None:
    assert normalised(["el", " uk"], aliases={}) == ["EL", "UK"]


def test_normalise_country_upper_cases_alias_mappings() -> None:
    assert normalised(["el"], aliases={"el": "gr"}) == ["GR"]


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("GR", True),
        ("GB", True),
        ("NL", True),
        ("XK", True),  # Kosovo: in iso3166, not in pycountry
        ("BE", False),  # Belgium: an INSZ is the Belgian number
        ("EL", False),  # aliases are replaced by normalise_country, not accepted here
        ("UK", False),
        ("ZZ", False),
        ("nl", False),  # not normalised
        ("NLD", False),
        (None, None),
    ],
)
def test_is_valid_country(code: str | None, valid: bool | None) -> None:
    assert verdicts([code]) == [valid]


def test_every_iso_code_but_belgium_is_valid() -> None:
    codes = sorted(iso3166.countries_by_alpha2)
    assert verdicts(codes) == [code != "BE" for code in codes]
