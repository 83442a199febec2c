"""LineSplitter: decoding once per block, CR, partial lines, long lines, offsets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.sources.lines import LineSplitter

CASES = [
    # (chunks fed, lines expected, bytes consumed, bytes held)
    ([b"a\nb\n"], ["a", "b"], 4, 0),
    ([b"a\r\nb\r\n"], ["a", "b"], 6, 0),
    ([b"a\rb\n"], ["a\rb"], 4, 0),  # only a CR right before the newline is a line end
    ([b"par", b"tial", b"\n"], ["partial"], 8, 0),
    ([b"done\nhalf"], ["done"], 5, 4),
    ([b"\n\n"], ["", ""], 2, 0),
    ([b"caf\xc3", b"\xa9\n"], ["café"], 6, 0),  # a character split between reads
    ([b"bad \xff\xfe\n"], ["bad \ufffd\ufffd"], 7, 0),
    ([b""], [], 0, 0),
]


@pytest.mark.parametrize(("chunks", "lines", "consumed", "held"), CASES)
def test_splitting_table(chunks, lines, consumed, held):
    s = LineSplitter()
    out: list[str] = []
    for chunk in chunks:
        out.extend(s.feed(chunk))
    assert out == lines
    assert s.consumed == consumed
    assert s.held == held


def test_long_complete_line_is_cut():
    s = LineSplitter(max_line=10)
    assert s.feed(b"x" * 25 + b"\nshort\n") == ["x" * 10, "short"]
    assert s.consumed == 32


def test_endless_line_is_cut_and_its_rest_skipped():
    s = LineSplitter(max_line=8)
    out: list[str] = []
    for _ in range(100):  # 1000 bytes of one line, arriving in pieces, no newline
        out.extend(s.feed(b"y" * 10))
    assert out == ["y" * 8]  # handed out once the hold cap was passed, not held forever
    assert s.held == 0
    out.extend(s.feed(b"yyy\nnext\n"))
    assert out == ["y" * 8, "next"]
    assert s.consumed == 1000 + 9


def test_flush_hands_out_the_unfinished_line():
    s = LineSplitter()
    assert s.feed(b"one\ntwo\r") == ["one"]
    assert s.flush() == ["two"]
    assert s.flush() == []
    assert s.consumed == 8


def test_other_encoding():
    s = LineSplitter(encoding="latin-1")
    assert s.feed(b"caf\xe9\n") == ["café"]


def test_reset_forgets_the_partial_line():
    s = LineSplitter()
    s.feed(b"a\nhalf")
    s.reset()
    assert (s.consumed, s.held) == (0, 0)
    assert s.feed(b"new\n") == ["new"]


def test_max_line_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        LineSplitter(max_line=0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"\n", b"\r", b"\xc3", b"\xa9", b"\xff", b"zz"]),
                max_size=60),
       st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=20))
def test_any_chunking_gives_the_same_lines(pieces, cuts):
    data = b"".join(pieces)
    whole = LineSplitter(max_line=1000)
    expected = whole.feed(data)
    s = LineSplitter(max_line=1000)
    got: list[str] = []
    pos, i = 0, 0
    while pos < len(data):
        step = cuts[i % len(cuts)]
        got.extend(s.feed(data[pos:pos + step]))
        pos += step
        i += 1
    assert got == expected
    assert s.consumed == whole.consumed == (data.rfind(b"\n") + 1)
