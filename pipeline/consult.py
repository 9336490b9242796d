"""Single answers for a person at a terminal: one lookup through the same checks and SQL."""

from __future__ import annotations

import datetime as dt
import getpass
from dataclasses import dataclass

import polars as pl

from pipeline import utc_now
from pipeline.audit import ConsultationWriter
from pipeline.config import Settings
from pipeline.contract import RESULT_COLUMNS, Operation
from pipeline.operations.lookups import lookup_answers
from pipeline.run import load_rules, store_options
from pipeline.store import opened
from pipeline.validation import validate_chunk


@dataclass(frozen=True)
class LookupQuery:
    """What a person asked: an INSZ, or a country and a foreign key, with optional filters."""

    insz: str | None = None
    country: str | None = None
    foreign_key: str | None = None
    key_type: str | None = None
    as_of: str | None = None
    recorded_at: str | None = None

    @property
    def operation(self) -> Operation:
        return Operation.LOOKUP_INSZ if self.insz is not None else Operation.LOOKUP_KEY


def lookup(settings: Settings, query: LookupQuery) -> pl.DataFrame:
    """The result rows a one-row request file would get; the consultation is audited."""
    today = dt.date.today()
    rules = load_rules(settings, today=today)
    chunk = pl.DataFrame(
        {
            "row": [1],
            "insz": [query.insz],
            "country": [query.country],
            "foreign_key": [query.foreign_key],
            "key_type": [query.key_type],
            "as_of": [query.as_of],
            "recorded_at": [query.recorded_at],
            "ref": [None],
        },
        schema={
            name: (pl.Int64 if name == "row" else pl.String)
            for name in (
                "row",
                "insz",
                "country",
                "foreign_key",
                "key_type",
                "as_of",
                "recorded_at",
                "ref",
            )
        },
    )
    staged = validate_chunk(chunk, operation=query.operation, rules=rules)
    now = utc_now()
    batch_id = f"cli-{now:%Y%m%dT%H%M%S%f}"
    with opened(store_options(settings, read_only=True)) as connection:
        answers = lookup_answers(
            connection, staged, operation=query.operation, today=rules.reference_date
        )
    with ConsultationWriter(
        settings.root / "audit" / f"{now:%Y-%m-%d}" / f"{batch_id}.parquet",
        batch_id=batch_id,
        institution=f"cli:{getpass.getuser()}",
        operation=query.operation.value,
        at=now,
    ) as audit:
        audit.write(answers)
    return answers.select(RESULT_COLUMNS)
