"""A large CSV file cut into blocks of whole records, so that forked workers parse and clean them side by side.

The parent only reads bytes and counts: it cuts after a newline where the number of double quotes so far is even
(RFC 4180: a newline inside quotes belongs to the cell), and counts the newlines before each block so the workers
give every row the same physical line number as one reader of the whole file would. Decoding, the csv module and
the cleaning all happen in the workers, so the parent's single core is no longer the load pass's limit.

Counting quotes is exact for files whose quotes open cells, which is what spreadsheets and CRMs write. A stray
quote inside an unquoted cell (`5" screen`) can mislead it, so each worker checks that its block ended on a
record boundary (a sentinel record after the block must come back as a record of its own), and `Unsplittable`
sends the import back to the one-reader path, which handles any file. Only encodings in which a newline and a
quote are single bytes that no other character contains are cut (UTF-8 and the single-byte Windows and ISO code
pages); UTF-16 is read by one reader.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import IO, NamedTuple

from prospects.imports.formats import RawRow, csv_reader, read_records, read_rows

READ_BYTES = 1024 * 1024
# A block that would grow past this to reach an even quote count is a file with an unbalanced quote.
MAX_BLOCK_BYTES = 64 * 1024 * 1024
_SPLITTABLE = frozenset({"utf-8", "utf-8-sig", "ascii", "cp1252", "iso8859-1", "iso8859-15"})
# One cell no file holds (private-use code points), as the record that must follow each block.
_SENTINEL = "\ue000leadgen block end\ue000"


class Unsplittable(Exception):
    """The file cannot be cut at record boundaries by counting quotes; read it with one reader."""


class Block(NamedTuple):
    number: int  # 0 for the block that starts with the header
    first_line: int  # physical line (1-based) the block starts on
    data: bytes


def splittable(encoding: str) -> bool:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return name in _SPLITTABLE


def split_blocks(stream: IO[bytes], *, encoding: str, lines: int) -> Iterator[Block]:
    """The file from its first byte (a UTF-8 byte order mark dropped) in blocks of at most `lines` newlines,
    each ending where no quoted cell is open, unless a quoted cell spans more lines than that."""
    data = stream.read(READ_BYTES)
    if codecs.lookup(encoding).name == "utf-8-sig" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    newlines = data.count(b"\n")
    eof = not data
    number, line = 0, 1
    while data:
        while newlines <= lines and not eof:
            more = stream.read(READ_BYTES)
            eof = not more
            data += more
            newlines += more.count(b"\n")
        if newlines <= lines:
            cut = len(data)  # the rest of the file
        else:
            cut = _after_newline(data, lines, newlines)
            quotes = data.count(b'"', 0, cut)
            if quotes % 2:
                back = _balanced_before(data, cut, quotes)
                if back > 0:
                    cut = back
                else:  # a quoted cell open across the whole block: take lines until it closes
                    pos = cut
                    while True:
                        end = data.find(b"\n", pos)
                        if end < 0:
                            if len(data) > MAX_BLOCK_BYTES:
                                raise Unsplittable("a quote is never closed")
                            more = stream.read(READ_BYTES)
                            if not more:
                                cut = len(data)
                                break
                            data += more
                            newlines += more.count(b"\n")
                            continue
                        quotes += data.count(b'"', pos, end + 1)
                        pos = end + 1
                        if quotes % 2 == 0:
                            cut = pos
                            break
        block, data = data[:cut], data[cut:]
        block_newlines = block.count(b"\n")
        newlines -= block_newlines
        if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
            raise Unsplittable("lines end with a bare carriage return")
        yield Block(number, line, block)
        number += 1
        line += block_newlines


def _after_newline(data: bytes, n: int, total: int) -> int:
    """The offset just after the n-th newline of data, which holds `total` (≥ n) of them: a guess from the
    average line length, walked a few lines to the exact one."""
    pos = data.rfind(b"\n", 0, len(data) * n // total)
    seen = data.count(b"\n", 0, pos + 1)
    while seen < n:
        pos = data.find(b"\n", pos + 1)
        seen += 1
    while seen > n:
        pos = data.rfind(b"\n", 0, pos)
        seen -= 1
    return pos + 1


def _balanced_before(data: bytes, cut: int, quotes: int) -> int:
    """The nearest line end before `cut` (where the block's `quotes` are odd) with an even count since the block's
    start; 0 when there is none."""
    while cut > 0 and quotes % 2:
        start = data.rfind(b"\n", 0, cut - 1) + 1
        quotes -= data.count(b'"', start, cut)
        cut = start
    return cut


def block_records(block: Block, *, encoding: str, delimiter: str, max_records: int) -> list[RawRow]:
    """A block's rows as one reader of the whole file gives them (the header row skipped in block 0), in a
    worker. Raises Unsplittable when the block did not end on a record boundary."""
    if codecs.lookup(encoding).name == "utf-8-sig":
        encoding = "utf-8"  # the parent dropped the byte order mark
    text = block.data.decode(encoding, errors="replace")
    if text and not text.endswith(("\n", "\r")):
        text += "\n"
    text += _SENTINEL + "\n"
    rows = _one_line_records(text, delimiter, block)
    if rows is None:
        stream = io.StringIO(text, newline="")
        if block.number == 0:
            _, records = read_rows(stream, delimiter)
        else:
            records = read_records(stream, delimiter, first_line=block.first_line)
        rows = list(records)
    if not rows or rows[-1].cells != [_SENTINEL] or len(rows) > max_records + 1:
        raise Unsplittable(f"the block from line {block.first_line} does not end on a record boundary")
    rows.pop()
    return rows


def _one_line_records(text: str, delimiter: str, block: Block) -> list[RawRow] | None:
    """The block's rows when each of its records is one line, as in nearly every file: then record i is on line
    first_line + i, and the csv module can read the whole block at once (twice as fast as record by record with
    line numbers). None when a record spans lines or the csv module refuses one: the caller reads record by record.
    """
    try:
        records = list(csv_reader(io.StringIO(text, newline=""), delimiter))
    except csv.Error:
        return None
    if len(records) != text.count("\n"):  # each record ends with a newline: fewer records, a multi-line one
        return None
    start = 0
    if block.number == 0:
        if not records or not any(cell.strip() for cell in records[0]):
            return None  # read_rows gives the reason
        start = 1
    first = block.first_line
    return [
        RawRow(first + i, cells) for i, cells in enumerate(records[start:], start) if cells and any(cells)
    ]
