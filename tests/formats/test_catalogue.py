"""The catalogue as data: loading, its errors (file and line named), lookups, and that a change
to the files takes effect at the next load."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from schemas.formats import (
    CatalogueError,
    apply_key_formats,
    format_message,
    format_message_expr,
    load_catalogue,
)
from schemas.formats.catalogue import PACKAGED_FORMATS, PACKAGED_KEY_TYPES, RULE_COLUMNS

RULE_IDS = [
    "DEFAULT", "EIDAS", "NL-BSN", "FR-NIR", "DE-IDNR", "DE-RVNR", "LU-MATRICULE", "IT-CF",
    "ES-DNI-NIE", "PT-NIF", "PL-PESEL", "RO-CNP", "TR-KIMLIK", "US-SSN",
]  # fmt: skip
KEY_TYPES = {
    "NATIONAL_NUMBER", "PASSPORT", "SOCIAL_SECURITY", "PENSION", "DRIVING_LICENCE",
    "IDENTITY_CARD", "TAX_NUMBER", "BIRTH_CERTIFICATE", "EIDAS",
}  # fmt: skip


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the packaged files (catalogue.csv with its .toml, key_types.csv) to change."""
    formats = tmp_path / "catalogue.csv"
    shutil.copy(PACKAGED_FORMATS, formats)
    shutil.copy(PACKAGED_FORMATS.with_suffix(".toml"), formats.with_suffix(".toml"))
    key_types = tmp_path / "key_types.csv"
    shutil.copy(PACKAGED_KEY_TYPES, key_types)
    return formats, key_types


def append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")


def test_the_packaged_catalogue():
    catalogue = load_catalogue()
    assert catalogue.version == "2026.11.1"
    assert [rule.rule_id for rule in catalogue.rules] == RULE_IDS
    assert catalogue.key_types == KEY_TYPES
    assert catalogue.exclusive_key_types <= KEY_TYPES


def test_the_packaged_examples():
    """Loaded by path, the packaged catalogue tests its examples (by default it does not)."""
    catalogue = load_catalogue(formats_path=PACKAGED_FORMATS)
    assert [rule.rule_id for rule in catalogue.rules] == RULE_IDS


def test_rules_frame_has_a_row_per_rule_and_key_type():
    frame = load_catalogue().rules_frame()
    assert frame.columns == list(RULE_COLUMNS)
    assert frame.filter(pl.col("rule_id") == "NL-BSN")["key_type"].to_list() == [
        "NATIONAL_NUMBER", "TAX_NUMBER", "SOCIAL_SECURITY",
    ]  # fmt: skip
    assert frame.filter(pl.col("rule_id") == "DEFAULT").select("country", "key_type").row(0) == (
        "*",
        "*",
    )
    assert set(frame["rule_id"]) == set(RULE_IDS)


def test_rule_for_follows_the_precedence():
    catalogue = load_catalogue()
    assert catalogue.rule_for("NL", "TAX_NUMBER").rule_id == "NL-BSN"
    assert catalogue.rule_for("NL", "PASSPORT").rule_id == "DEFAULT"
    assert catalogue.rule_for("MA", "EIDAS").rule_id == "EIDAS"  # (*, key type)
    assert catalogue.rule_for(None, None).rule_id == "DEFAULT"
    assert catalogue.rule_for("XX", "SHOE_SIZE").rule_id == "DEFAULT"


def test_messages():
    assert format_message("NL-BSN", "2026.11.1") == "key breaks rule NL-BSN (catalogue 2026.11.1)"
    frame = pl.DataFrame({"rule": ["NL-BSN", "DEFAULT"]})
    expected = [
        "key breaks rule NL-BSN (catalogue 9.9.9)",
        "key breaks rule DEFAULT (catalogue 9.9.9)",
    ]
    assert frame.select(format_message_expr(pl.col("rule"), "9.9.9"))["rule"].to_list() == expected
    catalogue = load_catalogue()
    messages = frame.select(catalogue.message_expr(pl.col("rule")))["rule"].to_list()
    assert messages[0] == format_message("NL-BSN", catalogue.version)


def test_a_new_rule_takes_effect_at_the_next_load(copies):
    formats, key_types = copies
    rows = pl.DataFrame(
        {"country": "AT", "key_type": "SOCIAL_SECURITY", "foreign_key": ["1237 010180"]}
    )
    before = apply_key_formats(
        rows, catalogue=load_catalogue(formats_path=formats, key_types_path=key_types)
    )
    assert before.row(0, named=True)["key_rule"] == "DEFAULT"

    append(formats, 'AT-SVNR,AT,SOCIAL_SECURITY,[0-9]{10},,trim remove:space,"Austrian social '
           'security number: 10 digits",1237010180')  # fmt: skip
    after = apply_key_formats(
        rows, catalogue=load_catalogue(formats_path=formats, key_types_path=key_types)
    )
    assert after.select("foreign_key", "key_rule", "key_format_ok").row(0) == (
        "1237010180",
        "AT-SVNR",
        True,
    )
    assert "AT-SVNR" not in [rule.rule_id for rule in load_catalogue().rules]  # the packaged file


def test_a_new_key_type_takes_effect_at_the_next_load(copies):
    formats, key_types = copies
    with pytest.raises(CatalogueError, match="unknown key type `RESIDENCE_PERMIT`"):
        append(formats, "CH-PERMIT,CH,RESIDENCE_PERMIT,[A-Z][0-9]{8},,trim upper,permit,C12345678")
        load_catalogue(formats_path=formats, key_types_path=key_types)

    append(key_types, "RESIDENCE_PERMIT,many,a residence permit number")
    catalogue = load_catalogue(formats_path=formats, key_types_path=key_types)
    assert "RESIDENCE_PERMIT" in catalogue.key_types
    rows = pl.DataFrame(
        {"country": "CH", "key_type": "RESIDENCE_PERMIT", "foreign_key": ["c12345678", "12345678"]}
    )
    checked = apply_key_formats(rows, catalogue=catalogue)
    assert checked.select("foreign_key", "key_rule", "key_format_ok").rows() == [
        ("C12345678", "CH-PERMIT", True), ("12345678", "CH-PERMIT", False),
    ]  # fmt: skip


def test_the_version_comes_from_the_sibling_toml(copies):
    formats, key_types = copies
    formats.with_suffix(".toml").write_text('version = "2027.1.2"\n', encoding="utf-8")
    assert load_catalogue(formats_path=formats, key_types_path=key_types).version == "2027.1.2"


def test_the_default_rule_is_built_in(copies):
    formats, key_types = copies
    lines = formats.read_text(encoding="utf-8").splitlines()
    formats.write_text("\n".join(line for line in lines if not line.startswith("DEFAULT,")) + "\n")
    catalogue = load_catalogue(formats_path=formats, key_types_path=key_types)
    assert catalogue.rule("DEFAULT").check == "default"


BROKEN_RULES = [
    ("NL-X,NL,TAX_NUMBER,[0-9]{9},no_such_check,trim,x,123456782", "unknown check `no_such_check`"),
    ("NL-X,NL,SHOE_SIZE,,,trim,x,12345", "unknown key type `SHOE_SIZE`"),
    ("NL-X,NL,TAX_NUMBER,(?<=x)y,,trim,x,12345", "pattern does not compile"),
    ("NL-X,NL,TAX_NUMBER,,,trim,x,12345", "NL TAX_NUMBER already has rule NL-BSN"),
    ("NL-BSN,NL,PASSPORT,,,trim,x,12345", "rule id NL-BSN is used twice"),
    ("NL-X,NL,PASSPORT,[0-9]{9},eleven_proof,trim,x,123456789", "example '123456789' breaks"),
    ("NL-X,NL,PASSPORT,,,trim shout,x,12345", "unknown step `shout`"),
    ("NL-X,NL,PASSPORT,,,remove:tilde,x,12345", "`tilde` is not one of"),
    ("NL-X,NLD,PASSPORT,,,trim,x,12345", "country `NLD`"),
    ("ANY,*,*,,,trim,x,12345", r"only DEFAULT applies to every country and key type"),
    ("NL-X,NL,PASSPORT,,,trim,,12345", "needs a description and an example"),
    ("nl x,NL,PASSPORT,,,trim,x,12345", "rule id `nl x`"),
    ("NL-X,NL,PASSPORT,,,trim,x,12345,extra", "too many values"),
]


@pytest.mark.parametrize(("line", "message"), BROKEN_RULES)
def test_a_broken_rule_names_file_and_line(copies, line, message):
    formats, key_types = copies
    append(formats, line)
    number = len(formats.read_text(encoding="utf-8").splitlines())
    with pytest.raises(CatalogueError, match=message) as raised:
        load_catalogue(formats_path=formats, key_types_path=key_types)
    assert f"{formats} line {number}" in str(raised.value)


def test_broken_files_are_catalogue_errors(copies, tmp_path):
    formats, key_types = copies
    assert issubclass(CatalogueError, ValueError)
    with pytest.raises(CatalogueError, match="missing column"):
        bad = tmp_path / "bad.csv"
        bad.write_text("rule_id,country\nX,NL\n", encoding="utf-8")
        shutil.copy(formats.with_suffix(".toml"), bad.with_suffix(".toml"))
        load_catalogue(formats_path=bad, key_types_path=key_types)
    with pytest.raises(CatalogueError, match="No such file"):
        load_catalogue(formats_path=tmp_path / "absent.csv", key_types_path=key_types)
    formats.with_suffix(".toml").write_text('version = "soon"\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"catalogue\.toml: needs `version"):
        load_catalogue(formats_path=formats, key_types_path=key_types)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("passport,many,lower case", "key type `passport`"),
        ("PASSPORT,many,twice", "PASSPORT is listed twice"),
        ("VISA,sometimes,a visa", "periods must be `one` or `many`"),
    ],
)
def test_a_broken_key_type_names_file_and_line(copies, line, message):
    formats, key_types = copies
    append(key_types, line)
    number = len(key_types.read_text(encoding="utf-8").splitlines())
    with pytest.raises(CatalogueError, match=message) as raised:
        load_catalogue(formats_path=formats, key_types_path=key_types)
    assert f"{key_types} line {number}" in str(raised.value)


def test_key_types_without_periods_column(copies):
    formats, key_types = copies
    rows = pl.read_csv(key_types).select("key_type", "description")
    rows.write_csv(key_types)
    catalogue = load_catalogue(formats_path=formats, key_types_path=key_types)
    assert catalogue.key_types == KEY_TYPES
    assert catalogue.exclusive_key_types == frozenset()
