"""The `formats` operation end to end, and the worked examples of the rules without stdnum."""

from __future__ import annotations

import polars as pl
import pytest

from schemas.formats import apply_key_formats, load_catalogue


def test_formats_operation_answers_the_catalogue(root, drop, run):
    catalogue = load_catalogue()
    drop("RVA", "formats", "all.csv", "country\n")
    drop("RVA", "formats", "some.csv", "country;key_type\nnl;\nXX;\n")
    run()
    everything = pl.read_csv(root / "outbox/RVA/formats/all.result.csv", infer_schema=False)
    assert everything.height == catalogue.rules_frame().height
    assert set(everything["catalogue_version"]) == {catalogue.version}
    some = pl.read_csv(
        root / "outbox/RVA/formats/some.result.csv", separator=";", infer_schema=False
    )
    assert {"NL-BSN", "DEFAULT", "EIDAS"} <= set(some.filter(pl.col("row") == "1")["rule_id"])
    assert some.filter(pl.col("row") == "2").select("status", "reason").row(0) == (
        "REJECTED",
        "INVALID_COUNTRY",
    )


@pytest.mark.parametrize(
    ("country", "key_type", "key", "valid"),
    [
        ("DE", "PENSION", "65170839J003", True),
        ("DE", "PENSION", "65170839J004", False),
        ("LU", "NATIONAL_NUMBER", "1893120105732", True),
        ("LU", "NATIONAL_NUMBER", "1893120105733", False),
        ("NL", "EIDAS", "NL/BE/aBc123+/x==", True),
        ("NL", "EIDAS", "DE/BE/aBc123", False),
        ("FR", "PASSPORT", "=cmd()", False),
    ],
)
def test_worked_examples(country, key_type, key, valid):
    frame = pl.DataFrame({"country": [country], "key_type": [key_type], "foreign_key": [key]})
    assert apply_key_formats(frame, catalogue=load_catalogue())["key_format_ok"].to_list() == [
        valid
    ]
