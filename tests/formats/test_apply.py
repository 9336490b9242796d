"""``apply_key_formats`` over whole columns: routing, normalisation, eIDAS, the refusals every
rule shares, and rows that keep their order and their other columns."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import polars as pl
import pytest

from schemas.formats import Catalogue, apply_key_formats, load_catalogue
from schemas.formats.catalogue import PACKAGED_FORMATS, PACKAGED_KEY_TYPES
from schemas.formats.generate import generate_valid_keys

CATALOGUE = load_catalogue()


def checked(
    rows: list[tuple[str | None, str | None, str | None]], catalogue: Catalogue = CATALOGUE
) -> list[tuple[str | None, str, bool | None]]:
    """(country, key type, key as sent) -> (normalised key, rule id, verdict) per row."""
    frame = pl.DataFrame(rows, schema=["country", "key_type", "foreign_key"], orient="row")
    result = apply_key_formats(frame, catalogue=catalogue)
    return result.select("foreign_key", "key_rule", "key_format_ok").rows()


def test_eidas_keeps_case_and_splits_on_the_first_two_slashes_only():
    assert checked([
        ("NL", "EIDAS", "NL/BE/aB3+xY/z=="),      # Base64 rest: case and slashes kept
        ("NL", "EIDAS", "  NL/BE/abc  "),          # surrounding spaces trimmed
        ("DE", "EIDAS", "DE/FR/a/b/c"),            # YY need not be BE
        ("GR", "EIDAS", "EL/BE/x"),                # EL stands for Greece
    ]) == [
        ("NL/BE/aB3+xY/z==", "EIDAS", True),
        ("NL/BE/abc", "EIDAS", True),
        ("DE/FR/a/b/c", "EIDAS", True),
        ("EL/BE/x", "EIDAS", True),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("country", "key"),
    [
        ("NL", "DE/BE/abc"),  # XX is not the link's country
        ("NL", "nl/BE/abc"),  # XX is an upper-case code: case is never changed
        ("NL", "NL/be/abc"),
        ("NL", "NL/BE/"),  # empty rest
        ("NL", "NL/BE"),
        ("NL", "NL/BE/a b"),  # whitespace inside
        ("NL", "NL/BE/a\tb"),
        ("NL", "NL/BE/a\x00b"),
        ("NL", "NLD/BE/abc"),
        ("NL", "NL/BE/" + "x" * 251),  # 256 + 1 characters
        (None, "NL/BE/abc"),
    ],
)
def test_eidas_refusals(country, key):
    [(_, rule, valid)] = checked([(country, "EIDAS", key)])
    assert (rule, valid) == ("EIDAS", False)


def test_eidas_length_limit_is_256_characters():
    longest = "NL/BE/" + "x" * 250
    assert len(longest) == 256
    assert checked([("NL", "EIDAS", longest)])[0][2] is True


@pytest.mark.parametrize("key", ["=cmd()", "=1+2", "+32470123456", "-12345", "-1", "@x12345",
                                 "@SUM(1)", "P12\x0034567", "P123\t4567", "P123\r\n4567"])  # fmt: skip
def test_every_rule_refuses_formulas_and_control_characters(key):
    for country, key_type in [("FR", "PASSPORT"), ("NL", "EIDAS"), ("MA", None)]:
        [(_, _, valid)] = checked([(country, key_type, key)])
        assert valid is False, (country, key_type, key)


def test_refusals_apply_after_normalisation():
    # A BSN's dashes are separators: "-123456782" is the BSN 123456782, and not a formula.
    assert checked([("NL", "TAX_NUMBER", "-123456782")]) == [("123456782", "NL-BSN", True)]
    # The default rule trims: a formula behind spaces is still a formula.
    assert checked([("FR", "PASSPORT", "  =cmd(1)")]) == [("=CMD(1)", "DEFAULT", False)]


def test_normalisation_by_rule():
    assert checked([
        ("NL", "TAX_NUMBER", "123.456.782"),
        ("NL", "NATIONAL_NUMBER", "123 456 782"),
        ("NL", "SOCIAL_SECURITY", "12345672"),    # a BSN that lost its leading zero
        ("NL", "TAX_NUMBER", "1234567"),          # zero-filled, and still not a BSN
        ("NL", "TAX_NUMBER", "ABC"),               # not zero-filled: not digits
        ("US", "SOCIAL_SECURITY", "536-90-4399"),
        ("US", "SOCIAL_SECURITY", "5369-04399"),  # dashes only between the groups
        ("FR", "SOCIAL_SECURITY", "2 95 10 99 126 111 93"),
        ("IT", "TAX_NUMBER", "rccmnl83s18d969h"),
        ("PT", "TAX_NUMBER", "PT 999 999 990"),
        ("FR", "PASSPORT", " 12ab345 "),           # default: trim, upper-case
    ]) == [
        ("123456782", "NL-BSN", True),
        ("123456782", "NL-BSN", True),
        ("012345672", "NL-BSN", True),
        ("001234567", "NL-BSN", False),
        ("ABC", "NL-BSN", False),
        ("536904399", "US-SSN", True),
        ("5369-04399", "US-SSN", False),
        ("295109912611193", "FR-NIR", True),
        ("RCCMNL83S18D969H", "IT-CF", True),
        ("999999990", "PT-NIF", True),
        ("12AB345", "DEFAULT", True),
    ]  # fmt: skip


def test_the_default_rule():
    assert checked([
        ("FR", "PASSPORT", "AB123"), ("FR", "PASSPORT", "AB12"), ("FR", "PASSPORT", "ABCDEF"),
        ("FR", "PASSPORT", "été12"), ("FR", "PASSPORT", None),
    ]) == [
        ("AB123", "DEFAULT", True), ("AB12", "DEFAULT", False), ("ABCDEF", "DEFAULT", False),
        ("ÉTÉ12", "DEFAULT", True), (None, "DEFAULT", None),
    ]  # fmt: skip


def custom_catalogue(tmp_path: Path, *lines: str) -> Catalogue:
    formats = tmp_path / "catalogue.csv"
    shutil.copy(PACKAGED_FORMATS, formats)
    shutil.copy(PACKAGED_FORMATS.with_suffix(".toml"), formats.with_suffix(".toml"))
    with formats.open("a", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)
    return load_catalogue(formats_path=formats, key_types_path=PACKAGED_KEY_TYPES)


def test_rule_choice_exact_then_country_then_key_type_then_default(tmp_path):
    catalogue = custom_catalogue(
        tmp_path,
        "CH-ANY,CH,*,[A-Z0-9]{6},,trim upper,any Swiss key,AB1234",
        "ANY-PENSION,*,PENSION,[0-9]{6},,trim,any pension key,123456",
        "CH-TAX,CH,TAX_NUMBER,[0-9]{13},,trim remove:dot,Swiss AHV as tax number,7561234567897",
    )
    assert [rule for _, rule, _ in checked([
        ("CH", "TAX_NUMBER", "756.1234.5678.97"),  # exact
        ("CH", "PENSION", "AB1234"),               # (country, *) before (*, key type)
        ("AT", "PENSION", "123456"),               # (*, key type)
        ("AT", "PASSPORT", "P1234567"),            # DEFAULT
        ("NL", "TAX_NUMBER", "123456782"),
        ("XX", "EIDAS", "XX/BE/a"),
    ], catalogue)] == ["CH-TAX", "CH-ANY", "ANY-PENSION", "DEFAULT", "NL-BSN", "EIDAS"]  # fmt: skip


def test_without_a_key_type():
    assert checked([
        ("NL", None, "NL/BE/aBc"),        # looks like eIDAS: the EIDAS rule, case kept
        ("NL", None, "nl/be/aBc"),        # looks like eIDAS, but XX must be upper case
        ("NL", None, "123.456.782"),      # a valid BSN: normalised as one, so it is found
        ("NL", None, "999999999"),        # no NL rule takes it: the default rule
        ("FR", None, "x"),
        ("DE", None, "65 170839 J 003"),  # the second DE rule
        (None, None, "ab12345"),
    ]) == [
        ("NL/BE/aBc", "EIDAS", True),
        ("nl/be/aBc", "EIDAS", False),
        ("123456782", "NL-BSN", True),
        ("999999999", "DEFAULT", True),
        ("X", "DEFAULT", False),
        ("65170839J003", "DE-RVNR", True),
        ("AB12345", "DEFAULT", True),
    ]  # fmt: skip


def test_unknown_key_types_and_invalid_countries_get_the_default_rule():
    assert [rule for _, rule, _ in checked([
        ("NL", "SHOE_SIZE", "123456782"), ("BE", "TAX_NUMBER", "123456782"),
        ("nl", "TAX_NUMBER", "123456782"), (None, "TAX_NUMBER", "123456782"),
    ])] == ["DEFAULT"] * 4  # fmt: skip


MIX = [
    ("NL", "TAX_NUMBER", "NL-BSN"), ("FR", "SOCIAL_SECURITY", "FR-NIR"), ("IT", "TAX_NUMBER", "IT-CF"),
    ("GB", "PASSPORT", "DEFAULT"), ("NL", "EIDAS", "EIDAS"), ("LU", "NATIONAL_NUMBER", "LU-MATRICULE"),
]  # fmt: skip


def test_rows_keep_their_order_and_other_columns():
    parts = [
        pl.DataFrame({
            "country": country, "key_type": key_type,
            "foreign_key": generate_valid_keys(rule, 500, seed=3, catalogue=CATALOGUE),
        })
        for country, key_type, rule in MIX
    ]  # fmt: skip
    frame = (
        pl.concat(parts)
        .sample(fraction=1.0, shuffle=True, seed=11)
        .with_row_index("row")
        .with_columns(
            pl.format("ref-{}", "row").alias("ref"), pl.col("foreign_key").str.to_lowercase()
        )
        .select("ref", "country", "row", "foreign_key", "key_type")
    )
    result = apply_key_formats(frame, catalogue=CATALOGUE)

    assert result.columns == [*frame.columns, "key_rule", "key_format_ok"]
    assert result.drop("foreign_key", "key_rule", "key_format_ok").equals(frame.drop("foreign_key"))
    rule_of = {(country, key_type): rule for country, key_type, rule in MIX}
    wanted = [rule_of[pair] for pair in frame.select("country", "key_type").rows()]
    assert result["key_rule"].to_list() == wanted
    # Each rule's rows, checked apart from the others, give the same answers as in the mix.
    for rule_id in set(wanted):
        mine = result.filter(pl.col("key_rule") == rule_id)
        apart = apply_key_formats(
            frame.filter(pl.col("row").is_in(mine["row"].implode())), catalogue=CATALOGUE
        )
        assert apart.select("foreign_key", "key_format_ok").equals(
            mine.select("foreign_key", "key_format_ok")
        )
    # The keys were sent in lower case: upper-cased back and valid, except eIDAS, which keeps
    # the case it is sent in (and nl/be/... is no eIDAS identifier).
    assert not result.filter(pl.col("key_rule") == "EIDAS")["key_format_ok"].any()
    assert result.filter(pl.col("key_rule") != "EIDAS")["key_format_ok"].all()


def test_the_input_frame_is_not_changed_and_empty_frames_work():
    frame = pl.DataFrame({"country": ["NL", "FR"], "key_type": ["TAX_NUMBER", "PASSPORT"],
                          "foreign_key": ["123.456.782", " ab12345 "]})  # fmt: skip
    before = frame.clone()
    apply_key_formats(frame, catalogue=CATALOGUE)
    assert frame.equals(before)
    empty = apply_key_formats(frame.clear(), catalogue=CATALOGUE)
    assert empty.height == 0
    assert empty.schema["key_rule"] == pl.String and empty.schema["key_format_ok"] == pl.Boolean


def test_a_frame_without_keys_has_nothing_to_check():
    """An INSZ lookup sends no key: no rule, no verdict, the other columns as they were."""
    frame = pl.DataFrame(
        {"country": ["NL", None], "key_type": ["TAX_NUMBER", None], "foreign_key": [None, None]},
        schema={"country": pl.String, "key_type": pl.String, "foreign_key": pl.String},
    )
    result = apply_key_formats(frame, catalogue=CATALOGUE)
    assert result.drop("key_rule", "key_format_ok").equals(frame)
    assert result["key_rule"].dtype == pl.String and result["key_rule"].null_count() == 2
    assert result["key_format_ok"].dtype == pl.Boolean
    assert result["key_format_ok"].null_count() == 2


def test_a_catalogue_of_the_default_rule_alone():
    default_only = dataclasses.replace(CATALOGUE, rules=(CATALOGUE.rule("DEFAULT"),))
    rows = [("NL", "TAX_NUMBER", "123.456.782"), ("NL", None, "NL/BE/x1")]
    assert checked(rows, default_only) == [
        ("123.456.782", "DEFAULT", True), ("NL/BE/X1", "DEFAULT", True),
    ]  # fmt: skip


def test_keys_without_a_key_type_get_the_answers_they_get_alone():
    """Keys of many countries in one lookup, some written with separators: each row is
    answered as it would be on its own (its country's rules are tried on the way)."""
    own_rules = [rule for rule in CATALOGUE.rules if rule.country != "*"]
    parts = [
        pl.DataFrame({"country": rule.country,
                      "foreign_key": generate_valid_keys(rule.rule_id, 6, seed=5, catalogue=CATALOGUE)})
        for rule in own_rules
    ]  # fmt: skip
    frame = (
        pl.concat(
            [
                *parts,
                pl.DataFrame(
                    {"country": ["NL", "DE", "GB"], "foreign_key": ["x1", "", "P1234567"]}
                ),
            ]
        )
        .with_columns(
            pl.when(pl.int_range(pl.len()) % 3 == 0)
            .then(pl.col("foreign_key").str.replace(r"^(.{3})", "$1 ."))
            .otherwise(pl.col("foreign_key")),
            pl.lit(None, pl.String).alias("key_type"),
        )
        .sample(fraction=1.0, shuffle=True, seed=7)
    )
    together = apply_key_formats(frame, catalogue=CATALOGUE)
    alone = pl.concat(apply_key_formats(row, catalogue=CATALOGUE) for row in frame.iter_slices(1))
    assert together.equals(alone)
    assert together["key_rule"].n_unique() > 5
