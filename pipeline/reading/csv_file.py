"""CSV requests: the header read by hand, the data streamed by pyarrow through a text check."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv

from pipeline.contract import FileReason, FileRejected

HEADER_LIMIT = 64 * 1024  # the header is read alone, so a file without line ends stays cheap
BLOCK_BYTES = 1 << 20  # what pyarrow parses at a time; no row may be longer
MAX_LINE_BYTES = BLOCK_BYTES

_BOM = b"\xef\xbb\xbf"
_BLANK = re.compile(rb"[ \t\r\n]*")
# One header record: quoted fields (which may hold line ends) or anything up to a line end.
# Possessive, so that a stray quote costs one pass and never exponential backtracking.
_RECORD = re.compile(rb'(?:"(?:[^"]|"")*+"|[^"\r\n])*+')
_QUOTED = re.compile(r'"(?:[^"]|"")*+"')
_SAVE_AS = "save it as 'CSV UTF-8'"
_NOT_TEXT = {  # signatures of files often sent by mistake under a .csv name
    b"PK\x03\x04": "a zip archive or an Excel workbook, not CSV text: " + _SAVE_AS,
    b"\xd0\xcf\x11\xe0": "an old Excel workbook, not CSV text: " + _SAVE_AS,
    b"PAR1": "a Parquet file: name it .parquet",
    b"\x1f\x8b": "gzip-compressed: name it .csv.gz",
}
_UTF16 = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class CsvHeader:
    """The header of a CSV request and where its data starts."""

    names: tuple[str, ...]  # as written, not yet trimmed
    delimiter: str
    prefix: bytes  # the bytes read to find the header; the data starts at ``data_offset``
    data_offset: int
    data_line: int  # the line number of the first data line, the header being line 1 or later

    @property
    def row_bytes(self) -> int:
        """The bytes of a data line, on average over those in ``prefix`` (a line that does not
        end there counts whole): what a row of the file takes, about."""
        data = self.prefix[self.data_offset :]
        return max(1, len(data) // max(1, _line_ends(data)))


def open_text(path: Path, *, compressed: bool) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if compressed else path.open("rb")


def read_header(stream: io.BufferedIOBase) -> CsvHeader:
    """Finds the header line (after a BOM and blank lines) and its delimiter."""
    prefix = _read(stream, HEADER_LIMIT, offset=0)
    complete = len(prefix) < HEADER_LIMIT
    if prefix.startswith(_UTF16):
        raise FileRejected(FileReason.ENCODING_ERROR, f"the file is UTF-16 text: {_SAVE_AS}")
    for signature, advice in _NOT_TEXT.items():
        if prefix.startswith(signature):
            raise FileRejected(FileReason.UNREADABLE_FILE, f"the file is {advice}")
    start = _BLANK.match(prefix, len(_BOM) if prefix.startswith(_BOM) else 0)
    begin = start.end() if start else 0
    if begin == len(prefix):
        if complete:
            raise FileRejected(
                FileReason.EMPTY_FILE,
                "the file holds no header line: its first line must name the columns",
            )
        raise FileRejected(FileReason.UNREADABLE_FILE, "the first 64 KiB of the file are blank")
    record = _RECORD.match(prefix, begin)
    end = record.end() if record else begin
    if end == len(prefix) and not complete:
        raise FileRejected(
            FileReason.UNREADABLE_FILE,
            "the header line is longer than 64 KiB or has no line end: the first line must"
            " name the columns, one line per row after it",
        )
    if end < len(prefix) and prefix[end : end + 1] == b'"':
        raise FileRejected(
            FileReason.UNREADABLE_FILE, 'the header line opens a quote (") that is never closed'
        )
    data_offset = end + (2 if prefix[end : end + 2] == b"\r\n" else 1 if end < len(prefix) else 0)
    text = _header_text(prefix[begin:end], offset=begin)
    delimiter = _delimiter(text)
    try:
        names = next(csv.reader([text], delimiter=delimiter))
    except (csv.Error, StopIteration) as error:
        raise FileRejected(
            FileReason.UNREADABLE_FILE, f"the header line cannot be read: {error}"
        ) from error
    return CsvHeader(
        names=tuple(names),
        delimiter=delimiter,
        prefix=prefix,
        data_offset=data_offset,
        data_line=_line_ends(prefix[:data_offset]) + 1,
    )


def iter_batches(
    path: Path, *, compressed: bool, delimiter: str, columns: tuple[str, ...]
) -> Iterator[pa.RecordBatch]:
    """The data rows as string batches named ``columns``; an empty field is null."""
    with open_text(path, compressed=compressed) as raw:
        header = read_header(raw)
        source = _CheckedText(
            raw,
            pending=header.prefix[header.data_offset :],
            offset=header.data_offset,
            line=header.data_line,
        )
        if not source.has_data():
            return  # pyarrow refuses a stream without bytes: a header alone has no rows
        ragged: list[Any] = []

        def refuse_row(row: Any) -> str:  # called by pyarrow for a bad row only
            ragged.append(row)
            return "error"

        rows = 0
        try:
            reader = pcsv.open_csv(
                source,
                read_options=pcsv.ReadOptions(
                    column_names=list(columns),
                    block_size=BLOCK_BYTES,
                    use_threads=False,  # a bad row's number is only known single-threaded
                ),
                parse_options=pcsv.ParseOptions(
                    delimiter=delimiter,
                    quote_char='"',
                    double_quote=True,
                    escape_char=False,
                    newlines_in_values=True,
                    ignore_empty_lines=True,
                    invalid_row_handler=refuse_row,
                ),
                convert_options=pcsv.ConvertOptions(
                    column_types=dict.fromkeys(columns, pa.string()),
                    null_values=[""],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            for batch in reader:
                rows += batch.num_rows
                yield batch
        except pa.ArrowInvalid as error:
            if ragged:
                row = ragged[0]
                raise FileRejected(
                    FileReason.UNREADABLE_FILE,
                    f"data row {row.number} has {_fields(row.actual_columns)} where the header"
                    f" has {_fields(row.expected_columns)}: quote values that hold `{delimiter}`,"
                    " and close every quote",
                ) from error
            raise FileRejected(
                FileReason.UNREADABLE_FILE,
                f"the rows after data row {rows} cannot be read: a row is longer than 1 MiB or a"
                " quote is never closed",
            ) from error


class _CheckedText:
    """A read-only stream for pyarrow that refuses non-UTF-8 bytes, NUL bytes and endless lines.

    pyarrow would only say "invalid UTF8" somewhere; checking the blocks on their way in names
    the line and byte the sender must fix.
    """

    closed = False

    def __init__(self, raw: io.BufferedIOBase, *, pending: bytes, offset: int, line: int) -> None:
        self._raw = raw
        self._pending = pending
        self._offset = offset  # of the next byte handed out, in the (unzipped) text
        self._line = line  # of the next byte handed out
        self._line_bytes = 0  # bytes of the current line handed out so far
        self._after_cr = False
        self._quotes = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def has_data(self) -> bool:
        if not self._pending:
            self._pending = _read(self._raw, BLOCK_BYTES, offset=self._offset)
        return bool(self._pending)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """The caller closes the underlying file."""

    def read(self, size: int = -1) -> bytes:
        size = BLOCK_BYTES if size < 0 else size
        if self._pending:
            block, self._pending = self._pending[:size], self._pending[size:]
        else:
            block = _read(self._raw, size, offset=self._offset)
        self._check(block)
        return block

    def _check(self, block: bytes) -> None:
        buffered = len(self._decoder.getstate()[0])
        try:
            if buffered or not block.isascii():  # ASCII is UTF-8: ten times faster to check
                self._decoder.decode(block, final=not block)
        except UnicodeDecodeError as error:
            at = max(error.start - buffered, 0)
            byte = error.object[error.start]
            raise FileRejected(
                FileReason.ENCODING_ERROR,
                f"line {self._line_at(block, at)} is not UTF-8 (byte 0x{byte:02X} at byte offset"
                f" {self._offset + at}): {_SAVE_AS}",
            ) from error
        nul = block.find(b"\0")
        if nul >= 0:
            raise FileRejected(
                FileReason.UNREADABLE_FILE,
                f"line {self._line_at(block, nul)} holds a NUL byte (byte offset"
                f" {self._offset + nul}), which CSV text never does: remove it, or {_SAVE_AS}",
            )
        first, last = _line_end_positions(block)
        if self._line_bytes + (len(block) if first < 0 else first) > MAX_LINE_BYTES:
            raise FileRejected(
                FileReason.UNREADABLE_FILE,
                f"line {self._line} is longer than 1 MiB: one row per line (line ends LF or CRLF)",
            )
        self._line_bytes = self._line_bytes + len(block) if first < 0 else len(block) - last - 1
        self._line = self._line_at(block, len(block))
        self._after_cr = block.endswith(b"\r")
        if b'"' in block:
            self._quotes += block.count(b'"')
        if not block and self._quotes % 2:
            # pyarrow ends an open quote at the end of the file: the rows after it would
            # silently become one value. RFC 4180 text always holds an even number of quotes.
            raise FileRejected(
                FileReason.UNREADABLE_FILE,
                'a quote (") is never closed, or a value holds a quote without being quoted'
                ' as a whole: write 5" as "5""" (RFC 4180)',
            )
        self._offset += len(block)

    def _line_at(self, block: bytes, position: int) -> int:
        """The line number of ``block[position]``; a CRLF split over two blocks counts once."""
        split_crlf = self._after_cr and position > 0 and block.startswith(b"\n")
        return self._line + _line_ends(block[:position]) - split_crlf


def _read(stream: io.BufferedIOBase, size: int, *, offset: int) -> bytes:
    try:
        return stream.read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:  # only gzip raises these
        raise FileRejected(
            FileReason.UNREADABLE_FILE,
            f"the gzip data is corrupt or truncated after byte {offset} of the text: compress the"
            " CSV file again (gzip)",
        ) from error


def _fields(count: int) -> str:
    return f"{count} field" if count == 1 else f"{count} fields"


def _header_text(data: bytes, *, offset: int) -> str:
    if b"\0" in data:
        raise FileRejected(
            FileReason.ENCODING_ERROR,
            f"the header line holds NUL bytes, as UTF-16 text does: {_SAVE_AS}",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileRejected(
            FileReason.ENCODING_ERROR,
            f"the header line is not UTF-8 (byte 0x{data[error.start]:02X} at byte offset"
            f" {offset + error.start}): {_SAVE_AS}",
        ) from error


def _delimiter(header: str) -> str:
    """``;`` or ``,``: the one found outside quotes; a single column has neither and gets ``,``."""
    outside = _QUOTED.sub("", header)
    if ";" in outside and "," in outside:
        raise FileRejected(
            FileReason.UNREADABLE_FILE,
            "the header line holds both `,` and `;`: separate the columns with one of them and"
            " quote a name that holds the other",
        )
    return ";" if ";" in outside else ","


def _line_ends(data: bytes) -> int:
    """LF, CRLF and a lone CR each end a line."""
    if b"\r" not in data:  # most files: counting CRLF costs twice as much as the rest
        return data.count(b"\n")
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _line_end_positions(block: bytes) -> tuple[int, int]:
    """The first and the last position of a CR or LF in ``block``, or -1."""
    firsts = [found for found in (block.find(b"\n"), block.find(b"\r")) if found >= 0]
    return (min(firsts) if firsts else -1), max(block.rfind(b"\n"), block.rfind(b"\r"))
