"""The format catalogue: every check against python-stdnum or official worked examples."""

from __future__ import annotations

import shutil
from functools import cache

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pl import pesel
from stdnum.pt import nif
from stdnum.ro import cnp
from stdnum.tr import tckimlik
from stdnum.us import ssn

from schemas.formats import Catalogue, apply_key_formats, generate_valid_keys, load_catalogue

# rule id -> (country, key type, oracle)
ORACLES = {
    "NL-BSN": ("NL", "TAX_NUMBER", bsn.is_valid),
    "FR-NIR": ("FR", "SOCIAL_SECURITY", nir.is_valid),
    "DE-IDNR": ("DE", "TAX_NUMBER", idnr.is_valid),
    "IT-CF": ("IT", "TAX_NUMBER", codicefiscale.is_valid),
    "ES-DNI-NIE": ("ES", "IDENTITY_CARD", lambda k: dni.is_valid(k) or nie.is_valid(k)),
    "PT-NIF": ("PT", "TAX_NUMBER", nif.is_valid),
    "PL-PESEL": ("PL", "NATIONAL_NUMBER", pesel.is_valid),
    "RO-CNP": ("RO", "NATIONAL_NUMBER", cnp.is_valid),
    "TR-KIMLIK": ("TR", "NATIONAL_NUMBER", tckimlik.is_valid),
    "US-SSN": ("US", "SOCIAL_SECURITY", ssn.is_valid),
}
MUTATION_CHARACTERS = "0123456789ABXYZ"


@cache
def catalogue() -> Catalogue:
    return load_catalogue()


@cache
def valid_pool(rule_id: str) -> tuple[str, ...]:
    return tuple(generate_valid_keys(rule_id, 300, seed=11, catalogue=catalogue()).to_list())


def verdicts(country: str, key_type: str | None, keys: list[str]) -> list[bool | None]:
    frame = pl.DataFrame(
        {"country": [country] * len(keys), "key_type": [key_type] * len(keys), "foreign_key": keys},
        schema={"country": pl.String, "key_type": pl.String, "foreign_key": pl.String},
    )
    return apply_key_formats(frame, catalogue=catalogue())["key_format_ok"].to_list()


@pytest.mark.parametrize("rule_id", sorted(ORACLES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mutations=st.lists(
        st.tuples(st.integers(0, 299), st.integers(0, 15), st.sampled_from(MUTATION_CHARACTERS)),
        min_size=1,
        max_size=40,
    )
)
def test_agrees_with_stdnum_on_valid_keys_and_their_typos(rule_id, mutations):
    country, key_type, oracle = ORACLES[rule_id]
    pool = valid_pool(rule_id)
    keys = list(pool[:20])
    for index, position, character in mutations:
        key = pool[index]
        position %= len(key)
        keys.append(key[:position] + character + key[position + 1 :])
    assert verdicts(country, key_type, keys) == [oracle(key) for key in keys]


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("65170839J003", True),  # Deutsche Rentenversicherung's published example
        ("15070649C103", True),
        ("65170839J004", False),
        ("65170839K003", False),
    ],
)
def test_de_rentenversicherungsnummer_worked_examples(key, valid):
    assert verdicts("DE", "PENSION", [key]) == [valid]


@pytest.mark.parametrize(
    ("key", "valid"),
    [("1893120105732", True), ("1893120105733", False), ("1893120105742", False)],
)
def test_lu_matricule_worked_examples(key, valid):
    assert verdicts("LU", "NATIONAL_NUMBER", [key]) == [valid]


@pytest.mark.parametrize(
    ("country", "key", "valid"),
    [
        ("NL", "NL/BE/aBc123+/x==", True),  # case kept, slashes in the rest
        ("NL", "DE/BE/aBc123", False),  # XX is not the link's country
        ("GR", "EL/BE/abc123", True),  # EL is Greece in eIDAS
        ("NL", "NL/BE/a b", False),  # no whitespace
        ("NL", "NL/BE/", False),  # empty rest
        ("NL", "NL/BE/" + "x" * 250, True),  # 256 characters in all
        ("NL", "NL/BE/" + "x" * 251, False),
        ("NL", "nl/BE/abc", False),
    ],
)
def test_eidas_identifiers(country, key, valid):
    assert verdicts(country, "EIDAS", [key]) == [valid]


def test_eidas_keeps_its_case():
    frame = pl.DataFrame({"country": ["NL"], "key_type": ["EIDAS"], "foreign_key": [" NL/BE/aB "]})
    assert apply_key_formats(frame, catalogue=catalogue())["foreign_key"].to_list() == ["NL/BE/aB"]


@pytest.mark.parametrize(
    "key", ["=cmd()", "+3212345678", "-1234567", "@SUM(1)", "AB\x0012345", "AB\t12345"]
)
def test_every_rule_refuses_formulas_and_control_characters(key):
    assert verdicts("FR", "PASSPORT", [key]) == [False]
    assert verdicts("NL", "TAX_NUMBER", [key]) == [False]


def test_normalisation_makes_printed_forms_equal():
    frame = pl.DataFrame(
        {
            "country": ["NL", "NL", "NL", "US", "FR"],
            "key_type": ["TAX_NUMBER", "TAX_NUMBER", "TAX_NUMBER", "SOCIAL_SECURITY", "PASSPORT"],
            "foreign_key": ["123.456.782", "123456782", "12345672", "536-90-4399", " ab12345 "],
        }
    )
    keys = apply_key_formats(frame, catalogue=catalogue())["foreign_key"].to_list()
    assert keys == ["123456782", "123456782", "012345672", "536904399", "AB12345"]


def test_rule_choice_and_row_order():
    frame = pl.DataFrame(
        {
            "country": ["NL", "FR", "NL", "NL", "DE", None],
            "key_type": ["PASSPORT", "SOCIAL_SECURITY", None, None, "EIDAS", "PASSPORT"],
            "foreign_key": [
                "NP12345",
                "295109912611193",
                "123.456.782",
                "AB12345",
                "DE/BE/x1",
                None,
            ],
        }
    )
    out = apply_key_formats(frame, catalogue=catalogue())
    assert out["key_rule"].to_list() == [
        "DEFAULT",
        "FR-NIR",
        "NL-BSN",
        "DEFAULT",
        "EIDAS",
        "DEFAULT",
    ]
    assert out["key_format_ok"].to_list() == [True, True, True, True, True, None]
    assert out["foreign_key"][2] == "123456782"


def test_a_data_change_is_picked_up_by_the_next_load(tmp_path):
    formats = tmp_path / "catalogue.csv"
    shutil.copyfile(catalogue_path("catalogue.csv"), formats)
    shutil.copyfile(catalogue_path("catalogue.toml"), tmp_path / "catalogue.toml")
    key_types = tmp_path / "key_types.csv"
    shutil.copyfile(catalogue_path("../key_types.csv"), key_types)
    before = load_catalogue(formats_path=formats, key_types_path=key_types)
    assert "RESIDENCE_PERMIT" not in before.key_types

    with key_types.open("a") as handle:
        handle.write("RESIDENCE_PERMIT,many,a residence permit number\n")
    with formats.open("a") as handle:
        handle.write(
            'NO-FNR,NO,NATIONAL_NUMBER,^[0-9]{11}$,,strip_separators,"fødselsnummer: 11 digits",01010112345\n'
        )
    after = load_catalogue(formats_path=formats, key_types_path=key_types)
    assert "RESIDENCE_PERMIT" in after.key_types
    assert after.rule_for("NO", "NATIONAL_NUMBER").rule_id == "NO-FNR"
    frame = pl.DataFrame(
        {"country": ["NO"], "key_type": ["NATIONAL_NUMBER"], "foreign_key": ["0101 0112 345"]}
    )
    assert apply_key_formats(frame, catalogue=after)["key_format_ok"].to_list() == [True]


def test_a_broken_catalogue_names_the_line(tmp_path):
    from schemas.formats import CatalogueError

    formats = tmp_path / "catalogue.csv"
    formats.write_text(
        catalogue_path("catalogue.csv").read_text() + "XX-BAD,XX,SHOE_SIZE,,,upper,bad,1\n"
    )
    shutil.copyfile(catalogue_path("catalogue.toml"), tmp_path / "catalogue.toml")
    with pytest.raises(CatalogueError, match=r"line 16: unknown key type SHOE_SIZE"):
        load_catalogue(formats_path=formats)


def catalogue_path(name: str):
    from schemas.formats.catalogue import PACKAGED_FORMATS

    return (PACKAGED_FORMATS.parent / name).resolve()


def test_formats_operation_answers_the_catalogue(root, drop, run):
    drop("RVA", "formats", "all.csv", "country\n")
    drop("RVA", "formats", "some.csv", "country;key_type\nnl;\nXX;\n")
    run()
    everything = pl.read_csv(root / "outbox/RVA/formats/all.result.csv", infer_schema=False)
    assert everything.height == sum(len(rule.key_types) for rule in catalogue().rules)
    assert set(everything["catalogue_version"]) == {catalogue().version}
    some = pl.read_csv(
        root / "outbox/RVA/formats/some.result.csv", separator=";", infer_schema=False
    )
    assert set(some.filter(pl.col("row") == "1")["rule_id"]) == {"NL-BSN", "DEFAULT", "EIDAS"}
    assert some.filter(pl.col("row") == "2").select("status", "reason").row(0) == (
        "REJECTED",
        "INVALID_COUNTRY",
    )
