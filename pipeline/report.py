"""The daily report: one self-contained HTML page of a day's batches and the last 30 days."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import Counter

from pipeline.config import Settings
from pipeline.run import store_options
from pipeline.store import opened

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem}
th{background:#f0f0f0;text-align:left}.num{text-align:right}.REJECTED{color:#b00}
"""


def day_report(settings: Settings, day: dt.date) -> str:
    """The page for ``day`` (UTC): batches, rows per status and institution, a 30-day chart."""
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    with opened(store_options(settings, read_only=True)) as connection:
        batches = connection.execute(
            "SELECT finished_at, institution, operation, file_name, rows, status, reason,"
            " epoch(finished_at) - epoch(received_at), CAST(receipt AS VARCHAR) FROM batches"
            " WHERE finished_at >= ? AND finished_at < ? ORDER BY finished_at",
            [start, start + dt.timedelta(days=1)],
        ).fetchall()
        volumes = connection.execute(
            "SELECT CAST(finished_at AT TIME ZONE 'UTC' AS DATE) AS day, sum(rows) FROM batches"
            " WHERE finished_at >= ? AND finished_at < ? GROUP BY ALL ORDER BY day",
            [start - dt.timedelta(days=29), start + dt.timedelta(days=1)],
        ).fetchall()
    per_status: Counter[str] = Counter()
    per_institution: Counter[str] = Counter()
    rows = []
    for finished, institution, operation, name, count, status, reason, seconds, receipt in batches:
        for state, number in json.loads(receipt).get("counts", {}).get("status", {}).items():
            per_status[state] += number
        per_institution[institution] += count
        rows.append(
            [f"{finished:%H:%M:%S}", institution, operation, name, str(count),
             status + (f" {reason}" if reason else ""), f"{seconds:.1f}"]
        )  # fmt: skip
    body = [
        f"<h1>LinkRegister: {day:%Y-%m-%d}</h1>",
        f"<p>{len(batches)} batches, {sum(per_institution.values())} rows.</p>",
        "<h2>Rows per status</h2>",
        _table(["status", "rows"], [[k, str(v)] for k, v in sorted(per_status.items())]),
        "<h2>Rows per institution</h2>",
        _table(["institution", "rows"], [[k, str(v)] for k, v in sorted(per_institution.items())]),
        "<h2>Volume, last 30 days</h2>",
        _chart(day, {d: int(v or 0) for d, v in volumes}),
        "<h2>Batches</h2>",
        _table(
            ["finished (UTC)", "institution", "operation", "file", "rows", "result", "seconds"],
            rows,
        ),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>LinkRegister {day:%Y-%m-%d}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    lines = []
    for row in rows:
        cells = "".join(f'<td class="{_css_class(cell)}">{html.escape(cell)}</td>' for cell in row)
        lines.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(lines)}</table>"


def _css_class(cell: str) -> str:
    """Numbers align right; a result cell is coloured by its status (REJECTED in red)."""
    if cell.replace(".", "").isdigit():
        return "num"
    return html.escape(cell.split(maxsplit=1)[0]) if cell else ""


def _chart(day: dt.date, volumes: dict[dt.date, int]) -> str:
    """An inline SVG bar chart: no script, no external file."""
    days = [day - dt.timedelta(days=29 - i) for i in range(30)]
    highest = max([*volumes.values(), 1])
    bars = []
    for i, each in enumerate(days):
        height = 100 * volumes.get(each, 0) / highest
        bars.append(
            f'<rect x="{i * 20 + 2}" y="{110 - height:.1f}" width="16" height="{height:.1f}"'
            f' fill="#3a6ea5"><title>{each:%Y-%m-%d}: {volumes.get(each, 0)} rows</title></rect>'
        )
    labels = f'<text x="0" y="125" font-size="10">{days[0]:%d %b}</text>'
    labels += f'<text x="560" y="125" font-size="10">{days[-1]:%d %b}</text>'
    return f'<svg width="610" height="130" role="img">{"".join(bars)}{labels}</svg>'
