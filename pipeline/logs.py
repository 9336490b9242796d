"""Logging: readable lines on a terminal, one JSON object per line otherwise (cron, systemd)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys


class JsonLines(logging.Formatter):
    """One event per line, for machines; never carries a personal number (callers make sure)."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "at": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        if record.exc_info:
            event["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(event, ensure_ascii=False)


def configure(*, verbose: bool = False, stream: object = None) -> None:
    """Sets up the root logger of the ``pipeline`` package once per command."""
    output = stream or sys.stderr
    handler = logging.StreamHandler(output)  # type: ignore[arg-type]
    if getattr(output, "isatty", lambda: False)():
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    else:
        handler.setFormatter(JsonLines())
    logger = logging.getLogger("pipeline")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
