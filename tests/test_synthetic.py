"""Synthetic INSZ: valid per python-stdnum, of every kind; mutations invalid."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from unittest import mock

import polars as pl
import pytest
from stdnum.be import nn, ssn

from pipeline.synthetic import mutate_insz, synthetic_insz
from schemas.insz import is_valid_insz

REFERENCE = dt.date(2025, 11, 29)


@contextmanager
def stdnum_today(day: dt.date) -> Iterator[None]:
    """stdnum.be.nn reads ``datetime.date.today()`` for the 2000+ rule: make it ``day``."""

    class Frozen(dt.date):
        @classmethod
        def today(cls) -> Frozen:
            return cls(day.year, day.month, day.day)

    with mock.patch.object(nn, "datetime", SimpleNamespace(date=Frozen)):
        yield


def ours(numbers: pl.Series, reference_date: dt.date = REFERENCE) -> list[bool | None]:
    check = is_valid_insz(pl.col("insz"), reference_date=reference_date)
    return pl.DataFrame({"insz": numbers}).select(check).to_series().to_list()


@pytest.fixture(scope="module")
def numbers() -> pl.Series:
    return synthetic_insz(5_000, seed=7, reference_date=REFERENCE, bis_share=0.2)


def test_shape(numbers: pl.Series) -> None:
    assert numbers.dtype == pl.String
    assert len(numbers) == 5_000
    assert numbers.str.contains(r"^[0-9]{11}$").all()
    assert numbers.n_unique() == len(numbers)


def test_every_number_is_valid_per_stdnum(numbers: pl.Series) -> None:
    with stdnum_today(REFERENCE):
        assert [ssn.is_valid(number) for number in numbers] == [True] * len(numbers)
    assert ours(numbers) == [True] * len(numbers)


def test_every_kind_and_century_occurs(numbers: pl.Series) -> None:
    with stdnum_today(REFERENCE):
        kinds = {ssn.guess_type(number) for number in numbers}
        years = [year for year in map(nn.get_birth_year, numbers) if year is not None]
        birth_dates = [date for date in map(nn.get_birth_date, numbers) if date is not None]
    months = set(numbers.str.slice(2, 2).cast(pl.Int64))
    assert kinds == {"nn", "bis"}
    assert {0, *range(20, 33), *range(40, 53)} <= months  # unknown dates, BIS +20 and +40
    assert len(years) == len(numbers)  # no fictitious dates: the year is always known
    assert min(years) >= 1930
    assert max(years) <= REFERENCE.year
    assert any(year >= 2000 for year in years)
    assert max(birth_dates) <= REFERENCE


def test_same_seed_same_numbers() -> None:
    first = synthetic_insz(1_000, seed=3, reference_date=REFERENCE)
    assert first.equals(synthetic_insz(1_000, seed=3, reference_date=REFERENCE))
    assert not first.equals(synthetic_insz(1_000, seed=4, reference_date=REFERENCE))


@pytest.mark.parametrize(("bis_share", "bis"), [(0.0, False), (1.0, True)])
def test_bis_share(bis_share: float, bis: bool) -> None:
    numbers = synthetic_insz(500, seed=1, reference_date=REFERENCE, bis_share=bis_share)
    assert (numbers.str.slice(2, 2).cast(pl.Int64) >= 20).to_list() == [bis] * 500


def test_a_reference_date_just_after_2000() -> None:
    reference = dt.date(2001, 2, 1)
    numbers = synthetic_insz(2_000, seed=5, reference_date=reference)
    with stdnum_today(reference):
        assert all(ssn.is_valid(number) for number in numbers)


def test_no_numbers() -> None:
    assert synthetic_insz(0, seed=1, reference_date=REFERENCE).to_list() == []


@pytest.mark.parametrize(
    "arguments",
    [
        {"n": -1},
        {"n": 10, "bis_share": 1.5},
        {"n": 10, "reference_date": dt.date(1929, 12, 31)},
    ],
)
def test_bad_arguments(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="synthetic_insz needs"):
        synthetic_insz(**{"seed": 1, "reference_date": REFERENCE, **arguments})  # type: ignore[arg-type]


def test_mutations_are_invalid(numbers: pl.Series) -> None:
    mutated = mutate_insz(numbers, seed=11)
    assert len(mutated) == len(numbers)
    assert mutated.name == numbers.name
    with stdnum_today(REFERENCE):
        assert [ssn.is_valid(number) for number in mutated] == [False] * len(mutated)
    assert ours(mutated) == [False] * len(mutated)


def test_every_kind_of_mutation_occurs(numbers: pl.Series) -> None:
    mutated = mutate_insz(numbers, seed=11)
    frame = pl.DataFrame({"valid": numbers, "mutated": mutated})
    lengths = set(mutated.str.len_chars())
    assert lengths == {10, 11, 12}
    assert mutated.str.contains("O").any()
    assert (mutated.str.slice(2, 2) == "13").any()
    same_but_last = frame.filter(
        pl.col("mutated").str.slice(0, 10) == pl.col("valid").str.slice(0, 10),
        pl.col("mutated").str.len_chars() == 11,
    )
    assert same_but_last.height > 0


def test_mutations_follow_the_seed(numbers: pl.Series) -> None:
    assert mutate_insz(numbers, seed=1).equals(mutate_insz(numbers, seed=1))
    assert not mutate_insz(numbers, seed=1).equals(mutate_insz(numbers, seed=2))
