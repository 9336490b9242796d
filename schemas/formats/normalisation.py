"""How a rule normalises a foreign key: a short list of named steps, kept as catalogue data.

The catalogue's ``normalisation`` column lists steps separated by spaces, applied in order:

``trim``               remove surrounding whitespace
``upper``              upper-case
``remove:space,dot``   delete these characters anywhere (space, dot, dash, slash, comma, colon)
``zfill:9``            left-pad a key of digits only with zeros to 9 digits
``drop_prefix:PT``     remove this prefix when the key starts with it
``ungroup:3-2-4``      join digit groups of these sizes written with optional dashes between
                       them (``536-90-4399`` -> ``536904399``); any other key is left as is

Steps only remove or pad; none changes the case of a key unless ``upper`` is asked for (an
eIDAS identifier keeps its case).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

Step = Callable[[pl.Expr], pl.Expr]

_NAMED_CHARACTERS = {
    "space": " ", "dot": ".", "dash": "-", "slash": "/", "comma": ",", "colon": ":",
}  # fmt: skip
_STEP = re.compile(r"(?P<name>[a-z_]+)(?::(?P<argument>\S+))?")


class NormalisationError(ValueError):
    """A normalisation that names an unknown step or gives a step a wrong argument."""


@dataclass(frozen=True)
class Normalisation:
    """The parsed steps of one ``normalisation`` text."""

    text: str
    steps: tuple[Step, ...]

    def apply(self, key: pl.Expr) -> pl.Expr:
        """All steps as one expression."""
        for step in self.steps:
            key = step(key)
        return key


def parse_normalisation(text: str) -> Normalisation:
    """``trim remove:space,dot zfill:9`` -> its steps; raises NormalisationError."""
    steps = []
    for word in text.split():
        match = _STEP.fullmatch(word)
        if match is None:
            raise NormalisationError(f"step `{word}` is not `name` or `name:argument`")
        steps.append(_step(match["name"], match["argument"]))
    return Normalisation(text=" ".join(text.split()), steps=tuple(steps))


def _step(name: str, argument: str | None) -> Step:
    builders: dict[str, Callable[[str | None], Step]] = {
        "trim": _without_argument("trim", _trim),
        "upper": _without_argument("upper", _upper),
        "remove": _remove,
        "zfill": _zfill,
        "drop_prefix": _drop_prefix,
        "ungroup": _ungroup,
    }
    if name not in builders:
        raise NormalisationError(f"unknown step `{name}`; known: {', '.join(builders)}")
    return builders[name](argument)


def _without_argument(name: str, step: Step) -> Callable[[str | None], Step]:
    def build(argument: str | None) -> Step:
        if argument is not None:
            raise NormalisationError(f"step `{name}` takes no argument")
        return step

    return build


# Some steps change few keys as they arrive; those first ask which keys they would change and
# change only those: measured, that is cheaper than rewriting every key.


def _trim(key: pl.Expr) -> pl.Expr:
    return key.str.strip_chars()


def _upper(key: pl.Expr) -> pl.Expr:
    lower_or_not_ascii = key.str.contains(r"[a-z]|[^\x00-\x7F]")
    return pl.when(lower_or_not_ascii).then(key.str.to_uppercase()).otherwise(key)


def _remove(argument: str | None) -> Step:
    names = (argument or "").split(",")
    unknown = [name for name in names if name not in _NAMED_CHARACTERS]
    if unknown:
        known = ", ".join(_NAMED_CHARACTERS)
        raise NormalisationError(f"remove: `{unknown[0]}` is not one of {known}")
    characters = [_NAMED_CHARACTERS[name] for name in names]
    any_of_them = "[" + "".join(re.escape(character) for character in characters) + "]"

    def remove(key: pl.Expr) -> pl.Expr:
        removed = key.str.replace_many(characters, [""] * len(characters))
        return pl.when(key.str.contains(any_of_them)).then(removed).otherwise(key)

    return remove


def _zfill(argument: str | None) -> Step:
    if argument is None or not argument.isdigit() or not 1 < int(argument) <= 64:
        raise NormalisationError("zfill needs a width, e.g. `zfill:9`")
    width = int(argument)

    def zfill(key: pl.Expr) -> pl.Expr:
        padded = pl.when(key.str.contains("^[0-9]+$")).then(key.str.zfill(width)).otherwise(key)
        return pl.when(key.str.len_bytes() < width).then(padded).otherwise(key)

    return zfill


def _drop_prefix(argument: str | None) -> Step:
    if not argument:
        raise NormalisationError("drop_prefix needs the prefix, e.g. `drop_prefix:PT`")
    return lambda key: key.str.strip_prefix(argument)


def _ungroup(argument: str | None) -> Step:
    sizes = (argument or "").split("-")
    if len(sizes) < 2 or not all(size.isdigit() and int(size) > 0 for size in sizes):
        raise NormalisationError("ungroup needs group sizes, e.g. `ungroup:3-2-4`")
    grouped = "^" + "-?".join(f"[0-9]{{{size}}}" for size in sizes) + "$"

    def ungroup(key: pl.Expr) -> pl.Expr:
        joined = pl.when(key.str.contains(grouped)).then(key.str.replace_all("-", "", literal=True))
        dashed = key.str.contains("-", literal=True)
        return pl.when(dashed).then(joined.otherwise(key)).otherwise(key)

    return ungroup
