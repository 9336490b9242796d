"""SQL fragments that several operations share."""

from __future__ import annotations

from pipeline.contract import Status

INSZ_TEXT = "lpad(CAST({} AS VARCHAR), 11, '0')"


def insz_text(column: str) -> str:
    """The store keeps INSZ as BIGINT; answers show the 11 digits."""
    return INSZ_TEXT.format(column)


def valid_on(link: str, day: str) -> str:
    """A link is valid on a day inside its period; open ends always match (valid_to inclusive)."""
    return (
        f"({link}.valid_from IS NULL OR {link}.valid_from <= {day})"
        f" AND ({link}.valid_to IS NULL OR {link}.valid_to >= {day})"
    )


def known_at(link: str, moment: str) -> str:
    """The version the register held at ``moment``; without one, the current version."""
    return (
        f"CASE WHEN {moment} IS NULL THEN {link}.recorded_to IS NULL"
        f" ELSE {link}.recorded_from <= {moment}"
        f" AND ({link}.recorded_to IS NULL OR {link}.recorded_to > {moment}) END"
    )


def echoed_date(name: str, row: str = "") -> str:
    """A staged request row's date (``valid_from``, ``valid_to``) as its answer echoes it: the
    text sent, which the staging keeps on the rows validation rejected only, else the date read
    (a valid row's, including a duplicate's, rejected after validation). ``row``: the table's
    alias, with its dot."""
    return f"coalesce({row}{name}, CAST({row}{name}_d AS VARCHAR))"


def rejected_rows() -> str:
    """Answer rows of the rejected request rows, echoing their normalised values."""
    return f"""
        SELECT row, ref, '{Status.REJECTED}' AS status, reason, message, insz, country, key_type,
               foreign_key, {echoed_date("valid_from")} AS valid_from,
               {echoed_date("valid_to")} AS valid_to
        FROM request WHERE reason IS NOT NULL
    """
