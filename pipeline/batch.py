"""Batch identifiers: one per claimed request file."""

from __future__ import annotations

import datetime as dt
import secrets


def new_batch_id(now: dt.datetime) -> str:
    """Sortable and unique: the claim time (UTC) and a random suffix."""
    return f"B{now.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"
