"""Result files written from an ``answer`` in DuckDB: read as it comes (copied by DuckDB for
CSV), or read and sorted by ranges; both give the same file."""

from __future__ import annotations

import datetime as dt
import gzip

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from pipeline.audit import ConsultationWriter
from pipeline.results import Ordering, ParquetPartWriter, result_writer, write_result

# More rows than two DuckDB row groups (122,880 rows each), so that the copy runs on all cores.
ROWS = 400_000
TEXT = ["plain", "a;b", 'he said "hi"', "two\nlines", " lead", None, "é ü", "a,b"]


@pytest.fixture
def connection():
    """An ``answer`` view over a staged ``request``, one row per request row, in request order,
    with some rows updated in place, as ``create`` leaves it."""
    with duckdb.connect() as connection:
        connection.execute(
            """
            CREATE TEMP TABLE request AS
            SELECT range + 1 AS row, 'r' || (range + 1) AS ref, NULL::VARCHAR AS reason,
                   ($text)[range % 8 + 1] AS message
            FROM range($rows)
            """,
            {"text": TEXT, "rows": ROWS},
        )
        connection.execute(
            """
            UPDATE request SET reason = 'INVALID_INSZ' WHERE row % 997 = 0;
            CREATE TEMP VIEW answer AS
            SELECT row, ref,
                   CASE WHEN reason IS NULL THEN 'CREATED' ELSE 'REJECTED' END AS status,
                   reason, message, NULL::VARCHAR AS insz, 'NL' AS country,
                   NULL::VARCHAR AS key_type, NULL::VARCHAR AS foreign_key,
                   NULL::VARCHAR AS valid_from, NULL::VARCHAR AS valid_to
            FROM request
            """
        )
        yield connection


def content(path, file_format):
    """The rows of a result file; for CSV, its bytes (decompressed) too."""
    if file_format == "parquet":
        return pl.read_parquet(path), None
    text = gzip.decompress(path.read_bytes()) if file_format == "csv.gz" else path.read_bytes()
    return pl.read_csv(text, separator=";", infer_schema=False), text


def written_as_sorted(connection, tmp_path, file_format, ordering):
    """The answer written in the ``ordering`` given and as unsorted (by ranges, sorted by
    polars): the same file, byte for byte for CSV (quoting, delimiter, empty for null). Its
    rows, and the counts of both."""
    written, ranged = tmp_path / f"written.{file_format}", tmp_path / f"ranged.{file_format}"
    counts = write_result(
        connection, path=written, file_format=file_format, delimiter=";", rows=ROWS,
        range_rows=150_000, ordering=ordering,
    )  # fmt: skip
    expected = write_result(
        connection, path=ranged, file_format=file_format, delimiter=";", rows=ROWS,
        range_rows=150_000,
    )  # fmt: skip
    result, text = content(written, file_format)
    expected_rows, expected_text = content(ranged, file_format)
    assert result["row"].cast(pl.Int64).to_list() == list(range(1, ROWS + 1))
    assert result.equals(expected_rows)
    assert text == expected_text
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([written.name, ranged.name])
    return result, counts, expected


@pytest.mark.parametrize("file_format", ["parquet", "csv", "csv.gz"])
def test_an_answer_in_request_order_is_copied_in_that_order(connection, tmp_path, file_format):
    """Read as it comes, the answer gives the file that the ranges, sorted by polars, give; and
    the same counts."""
    _, counts, expected = written_as_sorted(connection, tmp_path, file_format, Ordering.AS_STAGED)
    rejected = ROWS // 997
    assert (
        counts.as_dict()
        == expected.as_dict()
        == {
            "status": {"CREATED": ROWS - rejected, "REJECTED": rejected},
            "reason": {"INVALID_INSZ": rejected},
        }
    )


def correct(connection, *, every: int) -> None:
    """Contests every ``every``-th valid row of the fixture's answer, as ``create`` leaves it: the
    answer as staged, the contested rows' corrections (in no order), and ``answer`` the two
    together."""
    connection.execute(
        f"""
        ALTER VIEW answer RENAME TO answer_as_staged;
        CREATE TEMP VIEW answer_corrections AS
        SELECT row, 'CONFLICT' AS status, 'KEY_LINKED_TO_OTHER_INSZ' AS reason,
               'linked; "elsewhere"' AS message, NULL::VARCHAR AS valid_from,
               '2030-01-0' || (row % 9 + 1) AS valid_to
        FROM answer_as_staged WHERE row % {every} = 0 AND reason IS NULL
        ORDER BY hash(row);
        CREATE TEMP VIEW answer AS
        SELECT s.row, s.ref, coalesce(c.status, s.status) AS status,
               coalesce(c.reason, s.reason) AS reason,
               CASE WHEN c.row IS NULL THEN s.message ELSE c.message END AS message,
               s.insz, s.country, s.key_type, s.foreign_key,
               CASE WHEN c.row IS NULL THEN s.valid_from ELSE c.valid_from END AS valid_from,
               CASE WHEN c.row IS NULL THEN s.valid_to ELSE c.valid_to END AS valid_to
        FROM answer_as_staged s LEFT JOIN answer_corrections c USING (row)
        """
    )


@pytest.mark.parametrize("file_format", ["parquet", "csv", "csv.gz"])
def test_an_answer_as_staged_with_corrections_gives_the_sorted_answer(
    connection, tmp_path, file_format
):
    """Read as staged with the corrections put in their rows, the answer gives the file and
    the counts that the ranges, sorted by polars, give."""
    every = 613
    correct(connection, every=every)
    result, counts, expected = written_as_sorted(
        connection, tmp_path, file_format, Ordering.CORRECTED
    )
    contested = result.filter(pl.col("status") == "CONFLICT")
    assert contested["row"].cast(pl.Int64).to_list() == [
        row for row in range(every, ROWS + 1, every) if row % 997
    ]
    assert contested["message"].unique().to_list() == ['linked; "elsewhere"']
    assert contested["valid_from"].null_count() == contested.height
    rejected = ROWS // 997
    assert (
        counts.as_dict()
        == expected.as_dict()
        == {
            "status": {
                "CONFLICT": contested.height,
                "CREATED": ROWS - rejected - contested.height,
                "REJECTED": rejected,
            },
            "reason": {"INVALID_INSZ": rejected, "KEY_LINKED_TO_OTHER_INSZ": contested.height},
        }
    )


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_an_answer_that_fails_leaves_nothing(connection, tmp_path, file_format):
    connection.execute(
        "CREATE OR REPLACE TEMP VIEW answer AS"
        " SELECT error('disk full') AS row, 'CREATED' AS status, NULL AS reason"
    )
    with pytest.raises(duckdb.Error, match="disk full"):
        write_result(
            connection, path=tmp_path / f"copied.{file_format}", file_format=file_format,
            delimiter=",", columns=("row",), rows=1, range_rows=1, ordering=Ordering.AS_STAGED,
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_a_write_that_fails_midway_leaves_nothing_and_the_store_usable(
    connection, tmp_path, monkeypatch
):
    """The file is removed, and DuckDB's half-read answer is ended: the processor can still roll
    back its transaction and go on with the next file."""
    written = []

    def write_then_fail(self, rows):
        if written:
            raise OSError("no space left on device")
        written.append(len(rows))

    monkeypatch.setattr(ParquetPartWriter, "write", write_then_fail)
    with pytest.raises(OSError, match="no space"):
        write_result(
            connection, path=tmp_path / "copied.parquet", file_format="parquet", delimiter=None,
            rows=ROWS, range_rows=100_000, ordering=Ordering.AS_STAGED,
        )  # fmt: skip
    assert written == [100_000]
    assert list(tmp_path.iterdir()) == []
    assert connection.execute("SELECT count(*) FROM answer").fetchall() == [(ROWS,)]


def test_a_parquet_result_stores_its_foreign_keys_plain_and_the_audit_does_not(tmp_path):
    """Foreign keys, all different, are not worth Snappy's time in a result; the audit, kept for
    months, is compressed whole. Dictionaries and statistics as the module says."""
    answers = pl.DataFrame(
        {
            "row": [1, 2],
            "ref": ["a", "b"],
            "status": ["FOUND", "FOUND"],
            "insz": ["93100706896", "93100706896"],
            "country": ["NL", "NL"],
            "foreign_key": ["123456782", "111222333"],
        }
    )
    columns = tuple(answers.columns)
    with result_writer(
        tmp_path / "result.parquet", file_format="parquet", delimiter=None, columns=columns
    ) as result:
        result.write(answers)
    at = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    with ConsultationWriter(
        tmp_path / "audit.parquet", batch_id="B1", institution="KSZ", operation="lookup-key", at=at
    ) as audit:
        audit.write(
            answers.with_columns(
                pl.lit(None, pl.String).alias("asked_key_type"),
                pl.lit(None, pl.Date).alias("as_of_d"),
                pl.lit(None, pl.Datetime("us", "UTC")).alias("recorded_at_ts"),
            )
        )

    def chunks(path):
        group = pq.ParquetFile(path).metadata.row_group(0)
        return {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}

    result_chunks = chunks(tmp_path / "result.parquet")
    assert {name: c.compression for name, c in result_chunks.items()} == {
        name: "UNCOMPRESSED" if name == "foreign_key" else "SNAPPY" for name in columns
    }
    assert result_chunks["row"].is_stats_set and not result_chunks["insz"].is_stats_set
    assert "RLE_DICTIONARY" in result_chunks["status"].encodings
    assert "RLE_DICTIONARY" not in result_chunks["foreign_key"].encodings
    assert {c.compression for c in chunks(tmp_path / "audit.parquet").values()} == {"SNAPPY"}
    assert pl.read_parquet(tmp_path / "result.parquet").equals(answers)
