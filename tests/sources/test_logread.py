"""Reading log lines: line ends, invalid UTF-8, block boundaries, ranges of a file."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest

from warden.sources.logread import iter_blocks, iter_lines, line_start_after, open_range


def _reference(data: bytes) -> list[str]:
    """What fail2ban reads: split at \\n, strip trailing \\r, decode with replacement."""
    if not data:
        return []
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "replace").rstrip("\r") for p in parts]


CASES = [
    b"",
    b"\n",
    b"a\nb\n",
    b"a\nb",  # no final newline
    b"a\r\nb\r\n\r\n",  # CRLF, an empty CRLF line
    b"a\r\r\nb\rc\n",  # several \r before the end; a lone \r inside stays
    b"caf\xc3\xa9\nbad \xff\xfe\nhalf \xc3",  # valid, invalid, truncated at the end
    b"x" * 100_000 + b"\n" + b"y" * 70_000,  # huge lines
    "\u00e9\u4e2d\U0001f600\n".encode() * 50,  # multi-byte characters cut by small blocks
]


@pytest.mark.parametrize("data", CASES)
@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
def test_lines_as_fail2ban_reads_them(data: bytes, block: int) -> None:
    assert list(iter_lines(io.BytesIO(data), block=block)) == _reference(data)
    blocks = list(iter_blocks(io.BytesIO(data), block=block))
    assert all(blocks)  # never an empty list


@pytest.mark.parametrize("data", CASES)
def test_any_line_start_splits_a_file_exactly(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "log"
    path.write_bytes(data)
    with path.open("rb") as stream:
        starts = sorted({line_start_after(stream, off, len(data))
                         for off in range(0, len(data) + 1, max(1, len(data) // 13))})
    cuts = sorted({0, *starts, len(data)})
    pieces: list[str] = []
    for a, b in itertools.pairwise(cuts):
        pieces += iter_lines(open_range(str(path), a, b), close=True)
    assert pieces == _reference(data)


def test_line_start_after(tmp_path: Path) -> None:
    data = b"ab\ncd\n\nef"
    with io.BytesIO(data) as s:
        assert [line_start_after(s, i, len(data)) for i in range(len(data) + 1)] == [
            0, 3, 3, 3, 6, 6, 6, 7, 9, 9]


def test_close_closes_the_stream() -> None:
    stream = io.BytesIO(b"a\n")
    assert list(iter_lines(stream, close=True)) == ["a"]
    assert stream.closed
