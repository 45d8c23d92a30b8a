"""Cutting a file into blocks for the forked parsers: every row comes back as one reader of the whole file gives
it (cells and physical line), or the file is refused as unsplittable and read by one reader."""

from __future__ import annotations

import codecs
import io
import random

import pytest

from prospects.imports.blocks import Unsplittable, block_records, split_blocks, splittable
from prospects.imports.formats import RawRow, open_text, read_rows


def whole_file(data: bytes, encoding: str) -> list[RawRow]:
    _, rows = read_rows(open_text(io.BytesIO(data), encoding), ",")
    return list(rows)


def by_blocks(data: bytes, encoding: str, lines: int) -> list[RawRow]:
    rows: list[RawRow] = []
    for block in split_blocks(io.BytesIO(data), encoding=encoding, lines=lines):
        assert block.data.count(b"\n") <= lines or b'"' in block.data  # only an open quote makes it longer
        rows += block_records(block, encoding=encoding, delimiter=",", max_records=lines + 1)
    return rows


BALANCED = ["a", "b c", '"q,uoted"', '"multi\nline"', '"x""y"', "", "é", '"three\n\nlines"', '"\r\nz"', "€"]
STRAY = ['5" screen', "\r"]


def random_file(rng: random.Random, cells: list[str], encoding: str) -> bytes:
    rows = ["email,name,title"]
    for _ in range(rng.randint(0, 60)):
        rows.append(
            "" if rng.random() < 0.05 else ",".join(rng.choice(cells) for _ in range(rng.randint(1, 4)))
        )
    newline = rng.choice(["\n", "\r\n"])
    text = newline.join(rows) + rng.choice(["", newline])
    data = text.encode("cp1252" if encoding == "cp1252" else "utf-8")
    return codecs.BOM_UTF8 + data if encoding == "utf-8-sig" else data


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_blocks_give_every_row_and_line_of_one_reader(encoding: str) -> None:
    rng = random.Random(encoding)
    for _ in range(400):
        data = random_file(rng, BALANCED, encoding)
        lines = rng.randint(1, 8)
        assert by_blocks(data, encoding, lines) == whole_file(data, encoding), (data, lines)


def test_a_quoted_cell_longer_than_a_block_stays_whole() -> None:
    cell = '"' + "\n".join(f"line {n}" for n in range(50)) + '"'
    data = f"email,notes\na@x.io,{cell}\nb@x.io,short\n".encode()
    rows = by_blocks(data, "utf-8", 5)
    assert rows == whole_file(data, "utf-8")
    assert [(row.line, row.cells[0]) for row in rows if row.cells] == [(2, "a@x.io"), (52, "b@x.io")]


def test_stray_quotes_and_bare_carriage_returns_are_refused_or_read_alike() -> None:
    """A quote inside an unquoted cell or a bare CR can mislead the quote count: the blocks then either still
    agree with one reader or the file is refused, never a row cut in two."""
    rng = random.Random(7)
    refused = 0
    for _ in range(400):
        data = random_file(rng, BALANCED + STRAY, "utf-8")
        try:
            rows = by_blocks(data, "utf-8", rng.randint(1, 8))
        except Unsplittable:
            refused += 1
            continue
        assert rows == whole_file(data, "utf-8"), data
    assert 0 < refused < 400


def test_a_stray_quote_before_a_quoted_newline_is_caught_by_the_worker() -> None:
    # Even quotes at the end of line 3, yet one reader is inside the cell opened there.
    data = b'email,title\na@x.io,5" screen\nb@x.io,"two\nlines"\nc@x.io,x\n'
    with pytest.raises(Unsplittable):
        by_blocks(data, "utf-8", 2)


def test_only_byte_safe_encodings_are_cut() -> None:
    assert splittable("utf-8") and splittable("utf-8-sig") and splittable("cp1252") and splittable("latin-1")
    assert not splittable("utf-16") and not splittable("no-such-codec")
