"""Reading request files: one test per kind of input, asserting the exact frame or refusal."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gzip
import io
import signal
import threading
import time
import tracemalloc
import weakref
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from pipeline import read_ahead, result_of
from pipeline.contract import FileReason, FileRejected, Operation
from pipeline.reading import RequestFile, csv_file, iter_chunks, open_request

LOOKUP = Operation.LOOKUP_INSZ
CREATE = Operation.CREATE
LOOKUP_SHAPE = ("insz", "country", "key_type", "as_of", "recorded_at", "ref")
CREATE_SHAPE = ("insz", "country", "key_type", "foreign_key", "valid_from", "valid_to", "ref")
QuoteStyle = Literal["necessary", "always"]
SAVE_AS = "save it as 'CSV UTF-8'"


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def write_parquet(folder: Path, name: str, table: pa.Table) -> Path:
    path = folder / name
    pq.write_table(table, path)
    return path


def read(path: Path, operation: Operation = LOOKUP, *, chunk_rows: int = 1_000_000) -> pl.DataFrame:
    """Every chunk of the file, concatenated (an empty frame when there is none)."""
    request = open_request(path, operation=operation)
    chunks = list(iter_chunks(request, operation=operation, chunk_rows=chunk_rows))
    return pl.concat(chunks) if chunks else pl.DataFrame()


def expected(
    rows: Mapping[str, Sequence[str | None]], shape: tuple[str, ...] = LOOKUP_SHAPE
) -> pl.DataFrame:
    """What the reader must give: ``row``, then every column of ``shape``, absent ones null."""
    height = len(next(iter(rows.values())))
    columns = {"row": pl.Series(range(1, height + 1), dtype=pl.Int64)}
    for name in shape:
        columns[name] = pl.Series(rows.get(name, [None] * height), dtype=pl.String)
    return pl.DataFrame(columns)


def refusal(path: Path, operation: Operation = LOOKUP) -> FileRejected:
    """The refusal of a file, at opening or while reading its rows."""
    with pytest.raises(FileRejected) as caught:
        read(path, operation)
    return caught.value


# --- CSV that reads -------------------------------------------------------------------------


def test_semicolon_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "\ufeffinsz;ref\n01020300269;r1\n90010100123;r2\n")
    request = open_request(path, operation=LOOKUP)
    assert request == RequestFile(
        path=path, format="csv", delimiter=";", columns=("insz", "ref"), row_bytes=15
    )  # a data line of 15 bytes
    assert_frame_equal(
        read(path), expected({"insz": ["01020300269", "90010100123"], "ref": ["r1", "r2"]})
    )


@pytest.mark.parametrize(
    ("content", "row_bytes"),
    [
        ("insz,ref\n01020300269,r1\r\n90010100123,r22\r\n", 16),  # lines of 16 and 17 bytes
        ("insz\n" + "01020300269\n" * 20_000, 12),  # beyond the 64 KiB read for the header
        ("insz,ref\n90010100123," + "x" * 70_000, 64 * 1024 - 9),  # as far as it was read
        ("insz,ref\n", 1),  # a header alone
    ],
    ids=["CRLF", "many lines", "one long line", "no rows"],
)
def test_a_csv_rows_width_is_read_from_its_first_lines(
    tmp_path: Path, content: str, row_bytes: int
) -> None:
    """What a row takes, about (the processor cuts wide rows into fewer rows a chunk)."""
    request = open_request(write(tmp_path, "a.csv", content), operation=LOOKUP)
    assert request.row_bytes == row_bytes


def test_a_files_rows_are_counted_from_its_footer_or_its_size(tmp_path: Path) -> None:
    """Exact for Parquet; for CSV, the file's size over its first rows' width."""
    csv = write(tmp_path, "a.csv", "insz\n" + "01020300269\n" * 20_000)
    parquet = write_parquet(tmp_path, "a.parquet", pa.table({"insz": ["01020300269"] * 1234}))
    assert open_request(csv, operation=LOOKUP).about_rows() == 20_000
    assert open_request(parquet, operation=LOOKUP).about_rows() == 1234


def test_a_parquet_rows_width_is_read_from_its_footer(tmp_path: Path) -> None:
    """Unpacked, as the footer gives it: values that repeat count as their dictionary codes."""
    rows = range(1000)
    narrow = write_parquet(tmp_path, "a.parquet", pa.table({"insz": [f"{n:011d}" for n in rows]}))
    wide = write_parquet(tmp_path, "b.parquet", pa.table({"insz": [f"{n:0200d}" for n in rows]}))
    assert 11 <= open_request(narrow, operation=LOOKUP).row_bytes < 20
    assert 200 <= open_request(wide, operation=LOOKUP).row_bytes < 220


@pytest.mark.parametrize(
    ("groups", "rows", "most_bytes", "expected"),
    [
        ([(10, 100), (10, 100)], 8, None, [(0, 8), (8, 8), (16, 4)]),  # rows alone
        (
            [(10, 100), (10, 1000)],
            100,
            200,
            [(0, 11), (11, 2), (13, 2), (15, 2), (17, 2), (19, 1)],
        ),  # narrow, then wide
        ([(4, 40), (0, 0), (4, 40)], 100, 1000, [(0, 8)]),  # an empty group
        ([(3, 3000)], 100, 10, [(0, 1), (1, 1), (2, 1)]),  # wider than the budget: one row
        ([], 5, 10, []),  # no rows
    ],
)
def test_parquet_slices_follow_the_row_groups_widths(
    groups: list[tuple[int, int]], rows: int, most_bytes: int | None, expected: list
) -> None:
    from pipeline.reading.parquet_file import slices

    assert list(slices(groups, rows=rows, most_bytes=most_bytes)) == expected


def test_a_parquet_file_whose_rows_widen_gets_shorter_chunks(tmp_path: Path) -> None:
    narrow = [f"{n:011d}" for n in range(1000)]
    wide = [f"{n:0500d}" for n in range(1000)]
    path = write_parquet(tmp_path, "w.parquet", pa.table({"insz": narrow + wide}))
    pq.write_table(pa.table({"insz": narrow + wide}), path, row_group_size=1000)
    request = open_request(path, operation=LOOKUP)
    chunks = list(iter_chunks(request, operation=LOOKUP, chunk_rows=1000, chunk_bytes=50_000))
    heights = [chunk.height for chunk in chunks]
    assert heights[0] == 1000 and max(heights[1:]) < 120 and sum(heights) == 2000
    assert pl.concat(chunks)["insz"].to_list() == narrow + wide
    assert pl.concat(chunks)["row"].to_list() == list(range(1, 2001))


def test_a_csv_file_whose_rows_widen_after_its_first_lines_gets_shorter_chunks(
    tmp_path: Path,
) -> None:
    """The width read from the first 64 KiB says little of rows further on: the chunks are
    also cut at the bytes read (in blocks of 1 MiB)."""
    narrow = [f"{n:011d}" for n in range(100_000)]  # 1.2 MB
    wide = [f"{n:0500d}" for n in range(10_000)]  # 5 MB
    path = write(tmp_path, "w.csv", "insz\n" + "".join(f"{v}\n" for v in narrow + wide))
    request = open_request(path, operation=LOOKUP)
    assert request.row_bytes == 12
    chunks = list(iter_chunks(request, operation=LOOKUP, chunk_rows=50_000, chunk_bytes=2**20))
    heights = [chunk.height for chunk in chunks]
    assert heights[:2] == [50_000, 50_000] and max(heights[3:]) < 4_000
    assert pl.concat(chunks)["insz"].to_list() == narrow + wide
    assert list(iter_chunks(request, operation=LOOKUP, chunk_rows=50_000))[-1].height == 10_000


def test_comma_without_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "insz,country\n90010100123,NL\n")
    assert open_request(path, operation=LOOKUP).delimiter == ","
    assert_frame_equal(read(path), expected({"insz": ["90010100123"], "country": ["NL"]}))


def test_single_column_header_is_comma(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "insz\n90010100123\n")
    assert open_request(path, operation=LOOKUP).delimiter == ","
    assert_frame_equal(read(path), expected({"insz": ["90010100123"]}))


def test_quoted_delimiter_newline_and_doubled_quote(tmp_path: Path) -> None:
    content = 'insz;"ref"\n"90010100123";"a;b"\n1;"two\nlines"\n2;"say ""hi"""\n3;"x,y"\n'
    path = write(tmp_path, "a.csv", content)
    refs = ["a;b", "two\nlines", 'say "hi"', "x,y"]
    assert_frame_equal(read(path), expected({"insz": ["90010100123", "1", "2", "3"], "ref": refs}))


def test_crlf_and_mixed_line_endings(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", 'insz;ref\r\n1;a\r\n2;b\n3;"c\r\nd"\r4;e')
    expect = expected({"insz": ["1", "2", "3", "4"], "ref": ["a", "b", "c\r\nd", "e"]})
    assert_frame_equal(read(path), expect)


def test_values_kept_exactly_as_text(tmp_path: Path) -> None:
    """Leading zeros, spaces, NA-like words and numbers stay text; only an empty field is null."""
    path = write(
        tmp_path, "a.csv", 'insz;as_of;ref\n01020300269;NA; null \n007;2024-01-02;""\n 1.50 ;;\n'
    )
    expect = expected(
        {
            "insz": ["01020300269", "007", " 1.50 "],
            "as_of": ["NA", "2024-01-02", None],
            "ref": [" null ", None, None],
        }
    )
    assert_frame_equal(read(path), expect)


def test_column_names_trimmed_and_lower_cased(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "\ufeff  INSZ ;Ref\t\n1;x\n")
    assert open_request(path, operation=LOOKUP).columns == ("insz", "ref")
    assert_frame_equal(read(path), expected({"insz": ["1"], "ref": ["x"]}))


def test_repeated_header_is_a_data_row(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "insz;ref\n1;a\ninsz;ref\n2;b\n")
    assert_frame_equal(read(path), expected({"insz": ["1", "insz", "2"], "ref": ["a", "ref", "b"]}))


def test_blank_lines_are_skipped_and_not_counted(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "\n\r\ninsz;ref\n\n1;a\n\n2;b\n\n")
    assert_frame_equal(read(path), expected({"insz": ["1", "2"], "ref": ["a", "b"]}))


def test_header_only_yields_no_chunk(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "insz;ref\r\n")
    request = open_request(path, operation=LOOKUP)
    assert request.columns == ("insz", "ref")
    assert list(iter_chunks(request, operation=LOOKUP)) == []


def test_header_without_line_end_yields_no_chunk(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "country")
    request = open_request(path, operation=Operation.FORMATS)
    assert list(iter_chunks(request, operation=Operation.FORMATS)) == []


def test_csv_gz(tmp_path: Path) -> None:
    path = write(tmp_path, "a.CSV.GZ", gzip.compress(b"insz;ref\n01020300269;r\n"))
    assert open_request(path, operation=LOOKUP).format == "csv.gz"
    assert_frame_equal(read(path), expected({"insz": ["01020300269"], "ref": ["r"]}))


def test_chunks_number_rows_across_the_file(tmp_path: Path) -> None:
    lines = "".join(f"{n:011d};r{n}\n" for n in range(1, 2501))
    path = write(tmp_path, "a.csv", "insz;ref\n" + lines)
    request = open_request(path, operation=LOOKUP)
    chunks = list(iter_chunks(request, operation=LOOKUP, chunk_rows=1000))
    assert [chunk.height for chunk in chunks] == [1000, 1000, 500]
    assert all(chunk.columns == ["row", *LOOKUP_SHAPE] for chunk in chunks)
    whole = pl.concat(chunks)
    assert whole["row"].to_list() == list(range(1, 2501))
    assert whole["insz"].to_list() == [f"{n:011d}" for n in range(1, 2501)]


TEXT_ROWS = st.lists(st.tuples(st.text(), st.text()).map(list), min_size=1, max_size=5)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(TEXT_ROWS, st.sampled_from([";", ","]), st.sampled_from(["necessary", "always"]))
def test_round_trip_of_any_text(
    tmp_path: Path, rows: list[list[str]], delimiter: str, quote_style: QuoteStyle
) -> None:
    """What polars writes as CSV reads back value for value (an empty value as null)."""
    rows = [[value.replace("\0", "") for value in row] for row in rows]  # NUL: refused
    path = tmp_path / "round.csv"
    frame = pl.DataFrame(rows, schema=["insz", "ref"], orient="row")
    frame.write_csv(path, separator=delimiter, quote_style=quote_style)
    back = read(path)
    assert back["insz"].to_list() == [row[0] or None for row in rows]
    assert back["ref"].to_list() == [row[1] or None for row in rows]


# --- CSV that is refused --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"), [("a.csv", b""), ("a.csv.gz", b""), ("a.parquet", b"")]
)
def test_zero_bytes(tmp_path: Path, name: str, content: bytes) -> None:
    rejected = refusal(write(tmp_path, name, content))
    assert (rejected.reason, rejected.message) == (
        FileReason.EMPTY_FILE,
        "the file is empty (0 bytes)",
    )


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b" \n\r\n\t\n", gzip.compress(b"\n")])
def test_bom_or_blank_lines_only(tmp_path: Path, content: bytes) -> None:
    name = "a.csv.gz" if content.startswith(b"\x1f\x8b") else "a.csv"
    rejected = refusal(write(tmp_path, name, content))
    assert rejected.reason is FileReason.EMPTY_FILE
    assert rejected.message == "the file holds no header line: its first line must name the columns"


def test_corrupt_gzip(tmp_path: Path) -> None:
    rejected = refusal(write(tmp_path, "a.csv.gz", b"insz;ref\n1;2\n"))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message.startswith("the gzip data is corrupt or truncated after byte 0")


def test_truncated_gzip(tmp_path: Path) -> None:
    data = gzip.compress(("insz;ref\n" + "".join(f"{n};r{n}\n" for n in range(20000))).encode())
    rejected = refusal(write(tmp_path, "a.csv.gz", data[: len(data) // 2]))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert "compress the CSV file again (gzip)" in rejected.message


def test_windows_1252_in_header(tmp_path: Path) -> None:
    rejected = refusal(write(tmp_path, "a.csv", "insz;réf\n1;2\n".encode("cp1252")))
    assert rejected.reason is FileReason.ENCODING_ERROR
    assert (
        rejected.message == f"the header line is not UTF-8 (byte 0xE9 at byte offset 6): {SAVE_AS}"
    )


def test_windows_1252_in_a_late_row(tmp_path: Path) -> None:
    lines = "".join(f"{n:011d};r\n" for n in range(30000))  # 420 kB: several blocks later
    content = ("insz;ref\n" + lines + "1;café\n").encode("cp1252")
    path = write(tmp_path, "a.csv", content)
    open_request(path, operation=LOOKUP)  # the header is fine: the fault shows while reading
    rejected = refusal(path)
    assert rejected.reason is FileReason.ENCODING_ERROR
    offset = len(content) - 2
    assert (
        rejected.message
        == f"line 30002 is not UTF-8 (byte 0xE9 at byte offset {offset}): {SAVE_AS}"
    )


@pytest.mark.parametrize(("after", "valid"), [(b"\xa9b\n", True), (b"bc\n", False), (b"", False)])
def test_a_character_cut_between_blocks(after: bytes, valid: bool) -> None:
    """A block of plain ASCII after one that ends inside a UTF-8 character is still checked."""
    stream = io.BytesIO(b"a;b\n" + b"a" * 5 + b"\xc3" + after)  # \xc3\xa9 is an e-acute
    checked = csv_file._CheckedText(stream, pending=b"", offset=0, line=1)
    if valid:
        assert b"".join(iter(lambda: checked.read(10), b"")) == stream.getvalue()
        return
    with pytest.raises(FileRejected) as refused:
        while checked.read(10):
            pass
    assert refused.value.reason is FileReason.ENCODING_ERROR
    assert refused.value.message.startswith("line 2 is not UTF-8 (byte 0xC3")


def test_utf16_is_an_encoding_error(tmp_path: Path) -> None:
    for content in ("insz;ref\n".encode("utf-16"), "insz;ref\n".encode("utf-16-le")):
        rejected = refusal(write(tmp_path, "a.csv", content))
        assert rejected.reason is FileReason.ENCODING_ERROR
        assert "UTF-16" in rejected.message


def test_nul_byte_in_a_row(tmp_path: Path) -> None:
    rejected = refusal(write(tmp_path, "a.csv", b"insz;ref\n1;a\n2;b\x00c\n"))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message == (
        "line 3 holds a NUL byte (byte offset 16), which CSV text never does: remove it, or"
        f" {SAVE_AS}"
    )


def test_unknown_column_suggests_the_closest(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "insz;country;keytype;foreign_key\n")
    with pytest.raises(FileRejected) as caught:
        open_request(path, operation=CREATE)
    assert caught.value.reason is FileReason.UNKNOWN_COLUMNS
    assert caught.value.message == (
        "column `keytype` is not known for create: did you mean `key_type`? allowed: insz,"
        " country, key_type, foreign_key, valid_from, valid_to, ref"
    )


def test_unknown_column_without_a_close_name(tmp_path: Path) -> None:
    rejected = refusal(write(tmp_path, "a.csv", "insz;comment\n"))
    assert rejected.reason is FileReason.UNKNOWN_COLUMNS
    assert rejected.message == (
        "column `comment` is not known for lookup-insz. allowed: insz, country, key_type, as_of,"
        " recorded_at, ref"
    )


def test_empty_column_name(tmp_path: Path) -> None:
    rejected = refusal(write(tmp_path, "a.csv", "insz;ref;\n1;2;\n"))
    assert rejected.reason is FileReason.UNKNOWN_COLUMNS
    assert rejected.message == (
        "column 3 of the header has no name: name it or remove it (a delimiter at the end of the"
        " header line makes an empty column). allowed: insz, country, key_type, as_of,"
        " recorded_at, ref"
    )


def test_missing_columns(tmp_path: Path) -> None:
    rejected = refusal(write(tmp_path, "a.csv", "insz;ref\n1;2\n"), CREATE)
    assert rejected.reason is FileReason.MISSING_COLUMNS
    assert rejected.message == (
        "columns `country`, `key_type`, `foreign_key` are required for create but not in the"
        " header: add them (the header has `insz`, `ref`)"
    )


def test_duplicate_column_names(tmp_path: Path) -> None:
    rejected = refusal(write(tmp_path, "a.csv", "insz; INSZ\n1;2\n"))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message.startswith("column `insz` is named more than once in the header")


@pytest.mark.parametrize(("line", "fields"), [("3;c;x", "3 fields"), ("3", "1 field")])
def test_ragged_row(tmp_path: Path, line: str, fields: str) -> None:
    rejected = refusal(write(tmp_path, "a.csv", f"insz;ref\n1;a\n2;b\n{line}\n4;d\n"))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message == (
        f"data row 3 has {fields} where the header has 2 fields: quote values that hold `;`,"
        " and close every quote"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('"insz;ref\n1;2\n', 'the header line opens a quote (") that is never closed'),
        ("insz;ref,country\n", "the header line holds both `,` and `;`: separate the columns"),
    ],
)
def test_unreadable_header(tmp_path: Path, content: str, message: str) -> None:
    rejected = refusal(write(tmp_path, "a.csv", content))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message.startswith(message)


@pytest.mark.parametrize("content", ['insz;ref\n1;"open\n2;b\n', 'insz;ref\n1;5" floppy\n'])
def test_quote_never_closed(tmp_path: Path, content: str) -> None:
    rejected = refusal(write(tmp_path, "a.csv", content))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message == (
        'a quote (") is never closed, or a value holds a quote without being quoted as a whole:'
        ' write 5" as "5""" (RFC 4180)'
    )


def test_50_mb_line_without_line_end(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"x" * 50_000_000)
    tracemalloc.start()
    rejected = refusal(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message.startswith("the header line is longer than 64 KiB")
    assert peak < 5_000_000


def test_data_line_longer_than_1_mib(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", b"insz;ref\n1;a\n2;" + b"x" * 20_000_000)
    rejected = refusal(path)
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message.startswith("line 3 is longer than 1 MiB")


@pytest.mark.parametrize("name", ["a.txt", "a.xlsx", "a.csv.zip", "csv"])
def test_unsupported_file_type(tmp_path: Path, name: str) -> None:
    rejected = refusal(write(tmp_path, name, "insz\n1\n"))
    assert rejected.reason is FileReason.UNSUPPORTED_FILE_TYPE
    assert rejected.message.startswith(f"`{name}` is not a request file: send .csv (UTF-8)")


def test_workbook_named_csv(tmp_path: Path) -> None:
    rejected = refusal(write(tmp_path, "a.csv", b"PK\x03\x04rest of a zip"))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert (
        rejected.message
        == f"the file is a zip archive or an Excel workbook, not CSV text: {SAVE_AS}"
    )


# --- Parquet --------------------------------------------------------------------------------


def test_parquet_with_strings(tmp_path: Path) -> None:
    table = pa.table(
        {
            " INSZ": ["01020300269", None],
            "ref": pa.array([" a ", "b"], pa.large_string()),
            "country": pa.array(["NL", "NL"]).dictionary_encode(),
            "key_type": pa.nulls(2),
        }
    )
    path = write_parquet(tmp_path, "a.PARQUET", table)
    request = open_request(path, operation=LOOKUP)
    expect_request = RequestFile(
        path=path,
        format="parquet",
        delimiter=None,
        columns=("insz", "ref", "country", "key_type"),
        rows=2,
    )
    assert dataclasses.replace(request, row_bytes=1) == expect_request
    assert request.about_rows() == 2
    expect = expected({"insz": ["01020300269", None], "country": ["NL", "NL"], "ref": [" a ", "b"]})
    assert_frame_equal(read(path), expect)


def test_parquet_with_date_columns(tmp_path: Path) -> None:
    brussels = dt.timezone(dt.timedelta(hours=1))
    table = pa.table(
        {
            "insz": ["90010100123", "01020300269"],
            "country": ["NL", "FR"],
            "key_type": ["BSN", "NIR"],
            "foreign_key": ["123456782", "1"],
            "valid_from": pa.array([dt.date(2024, 1, 2), None], pa.date32()),
            "valid_to": pa.array(
                [
                    dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC),
                    dt.datetime(2025, 1, 1, 0, 30, tzinfo=brussels),
                ],
                pa.timestamp("us", "Europe/Brussels"),
            ),
        }
    )
    frame = read(write_parquet(tmp_path, "a.parquet", table), CREATE)
    expect = expected(
        {
            "insz": ["90010100123", "01020300269"],
            "country": ["NL", "FR"],
            "key_type": ["BSN", "NIR"],
            "foreign_key": ["123456782", "1"],
            "valid_from": ["2024-01-02", None],
            "valid_to": ["2025-01-01", "2025-01-01"],  # the day in Brussels
        },
        CREATE_SHAPE,
    )
    assert_frame_equal(frame, expect)


def test_parquet_int64_insz(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path, "a.parquet", pa.table({"insz": pa.array([1020300269], pa.int64())})
    )
    rejected = refusal(path)
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message == (
        "column `insz` is int64 in the Parquet file: write it as a string column (a number would"
        " lose leading zeros, as in the INSZ 01020300269)"
    )


def test_parquet_date_in_a_text_column(tmp_path: Path) -> None:
    table = pa.table({"insz": ["1"], "recorded_at": pa.array([dt.date(2024, 1, 1)])})
    rejected = refusal(write_parquet(tmp_path, "a.parquet", table))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert rejected.message.startswith("column `recorded_at` is date32[day] in the Parquet file")


def test_truncated_parquet(tmp_path: Path) -> None:
    whole = write_parquet(
        tmp_path, "whole.parquet", pa.table({"insz": [f"{n:011d}" for n in range(1000)]})
    )
    data = whole.read_bytes()
    rejected = refusal(write(tmp_path, "a.parquet", data[: len(data) - 100]))
    assert rejected.reason is FileReason.UNREADABLE_FILE
    assert (
        rejected.message
        == "the file is not a readable Parquet file (truncated or corrupt?): write it again"
    )


def test_corrupt_parquet_data_deep_in_the_file(tmp_path: Path) -> None:
    """A damaged page in the third row group: the first two chunks are read, then the refusal
    names the row after which the data is corrupt."""
    table = pa.table({"insz": [f"{n:011d}" for n in range(3000)]})
    path = tmp_path / "a.parquet"
    pq.write_table(table, path, row_group_size=1000)
    offset = pq.ParquetFile(path).metadata.row_group(2).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[offset : offset + 16] = b"\xff" * 16
    path.write_bytes(data)
    chunks = iter_chunks(open_request(path, operation=LOOKUP), operation=LOOKUP, chunk_rows=1000)
    assert [next(chunks).height, next(chunks).height] == [1000, 1000]
    with pytest.raises(FileRejected) as refused:
        next(chunks)
    assert refused.value.reason is FileReason.UNREADABLE_FILE
    assert refused.value.message == (
        "the Parquet data after row 2000 is corrupt: write the file again"
    )


def test_parquet_text_that_is_not_utf8(tmp_path: Path) -> None:
    """A string column holding bytes that are not UTF-8 (Arrow writes them unchecked)."""
    raw = pa.array([b"01020300269", b"caf\xe9"], pa.binary())
    text = pa.Array.from_buffers(pa.string(), len(raw), raw.buffers())
    rejected = refusal(write_parquet(tmp_path, "a.parquet", pa.table({"insz": text})))
    assert rejected.reason is FileReason.ENCODING_ERROR
    assert rejected.message == "a text column after row 0 is not UTF-8: write the text as UTF-8"


def test_parquet_chunks_across_row_groups(tmp_path: Path) -> None:
    """Chunks cut through row groups (and one large row group) keep every row once, in order;
    a timestamp without a time zone gives its own day; a name with glob characters is a name."""
    rows = 2500
    table = pa.table(
        {
            "insz": [f"{n:011d}" for n in range(rows)],
            "country": ["NL"] * rows,
            "key_type": ["BSN"] * rows,
            "foreign_key": ["123456782"] * rows,
            "valid_from": pa.array(
                [dt.datetime(2024, 1, 1, 23, 59) + dt.timedelta(days=n % 3) for n in range(rows)],
                pa.timestamp("ms"),
            ),
        }
    )
    for row_group_size in (700, rows):
        path = tmp_path / f"a[{row_group_size}]*.parquet"
        pq.write_table(table, path, row_group_size=row_group_size)
        frame = read(path, CREATE, chunk_rows=1000)
        assert frame["row"].to_list() == list(range(1, rows + 1))
        assert frame["insz"].to_list() == table["insz"].to_pylist()
        days = ["2024-01-01", "2024-01-02", "2024-01-03"]
        assert frame["valid_from"].to_list() == [days[n % 3] for n in range(rows)]


def test_parquet_unknown_and_duplicate_columns(tmp_path: Path) -> None:
    unknown = write_parquet(tmp_path, "u.parquet", pa.table({"insz": ["1"], "keytype": ["BSN"]}))
    assert refusal(unknown).reason is FileReason.UNKNOWN_COLUMNS
    twice = pa.Table.from_arrays([pa.array(["1"]), pa.array(["2"])], names=["insz", "INSZ"])
    assert refusal(write_parquet(tmp_path, "d.parquet", twice)).reason is FileReason.UNREADABLE_FILE


def test_parquet_header_only_and_chunks(tmp_path: Path) -> None:
    empty = write_parquet(tmp_path, "e.parquet", pa.table({"insz": pa.array([], pa.string())}))
    assert list(iter_chunks(open_request(empty, operation=LOOKUP), operation=LOOKUP)) == []
    path = write_parquet(tmp_path, "a.parquet", pa.table({"insz": [str(n) for n in range(2500)]}))
    chunks = list(
        iter_chunks(open_request(path, operation=LOOKUP), operation=LOOKUP, chunk_rows=1000)
    )
    assert [chunk.height for chunk in chunks] == [1000, 1000, 500]
    assert pl.concat(chunks)["row"].to_list() == list(range(1, 2501))


# ---------------------------------------------------------------- read_ahead: one chunk ahead


class _Source:
    """A generator of ``count`` items that records who took them and whether it was closed,
    raises at ``fail_at``, and takes item 1 only once ``hold`` (if given) is set."""

    def __init__(
        self, count: int, *, fail_at: int | None = None, hold: threading.Event | None = None
    ) -> None:
        self.taken: list[tuple[int, str]] = []
        self.closed_in: str | None = None
        self.items = self._items(count, fail_at, hold)

    def _items(
        self, count: int, fail_at: int | None, hold: threading.Event | None
    ) -> Generator[int]:
        try:
            for item in range(count):
                if item == fail_at:
                    raise FileRejected(FileReason.UNREADABLE_FILE, f"item {item} is damaged")
                if item == 1 and hold is not None:
                    hold.wait()
                self.taken.append((item, threading.current_thread().name))
                yield item
        finally:
            self.closed_in = threading.current_thread().name


def test_read_ahead_gives_every_item_in_order_taken_in_a_reader_thread() -> None:
    source = _Source(5)
    assert list(read_ahead(source.items)) == [0, 1, 2, 3, 4]
    assert [item for item, _ in source.taken] == [0, 1, 2, 3, 4]
    assert all(thread.startswith("read") for _, thread in source.taken)


def test_read_ahead_raises_an_error_where_its_item_would_have_come() -> None:
    source = _Source(5, fail_at=3)
    received = []
    with pytest.raises(FileRejected, match="item 3 is damaged"):
        for item in read_ahead(source.items):
            received.append(item)
    assert received == [0, 1, 2]


def test_read_ahead_closed_early_waits_for_the_item_ahead_then_closes_its_source() -> None:
    source = _Source(5)
    with contextlib.closing(read_ahead(source.items)) as items:
        assert next(items) == 0
    assert [item for item, _ in source.taken] == [0, 1], "one item ahead, no more"
    assert source.closed_in == threading.current_thread().name, "closed by the caller"


def test_read_ahead_closed_while_the_item_ahead_is_taken_waits_for_it() -> None:
    """Closing (the caller failed) while the reader still takes an item: the source is closed
    only once the reader thread has finished with it, never under its feet."""
    hold = threading.Event()
    source = _Source(5, hold=hold)
    release = threading.Timer(0.2, hold.set)
    with contextlib.closing(read_ahead(source.items)) as items:
        assert next(items) == 0
        release.start()
    assert hold.is_set(), "the close waited for the item being taken"
    assert [item for item, _ in source.taken] == [0, 1]
    assert source.closed_in == threading.current_thread().name


class _Chunk:
    """An item that can be watched (weakref) for being freed."""


def _chunks(count: int) -> Generator[_Chunk]:
    for _ in range(count):
        yield _Chunk()


def test_read_ahead_and_the_stage_timer_keep_no_item_they_handed_out() -> None:
    """The processor drops a raw chunk once it is validated (``del chunk``): neither generator
    may still hold it, or a chunk more is held at the peak."""
    from pipeline.chunks import Stages

    with contextlib.closing(read_ahead(_chunks(3))) as ahead:
        for items in (ahead, Stages().timed("read", ahead)):
            chunk = next(items)
            handed_out = weakref.ref(chunk)
            del chunk
            assert handed_out() is None


class _Alarm(Exception):
    pass


def _ring(signum: int, frame: object) -> None:
    raise _Alarm


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_result_of_acts_on_a_signal_that_another_thread_received() -> None:
    """Ctrl-C while the main thread waits for a thread (a file's digest, a chunk read ahead):
    the kernel may hand the signal to any thread. Here the main thread blocks it, so the worker
    gets it; a plain ``result()`` would then act on it only once the worker is done (10 s)."""
    release = threading.Event()
    previous = signal.signal(signal.SIGALRM, _ring)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(release.wait, 10)  # the worker starts with SIGALRM unblocked
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            try:
                signal.setitimer(signal.ITIMER_REAL, 0.2)
                start = time.monotonic()
                with pytest.raises(_Alarm):
                    result_of(future)
                assert time.monotonic() - start < 2
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
                release.set()
    finally:
        signal.signal(signal.SIGALRM, previous)
