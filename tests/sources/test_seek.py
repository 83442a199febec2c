"""find_since: the first line of the last findtime, found by binary search over the file."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.core.datedetect import DateDetector
from warden.sources.seek import dates_from, find_since


def date_of(line: str) -> float | None:
    # the caller's date function: "T=<epoch> ..." lines are dated, others are not
    if line.startswith("T="):
        return float(line[2:line.index(" ")])
    return None


def reference(data: bytes, since: float) -> int:
    pos = 0
    for raw in data.split(b"\n"):  # an unfinished last line counts
        d = date_of(raw.decode())
        if d is not None and d >= since:
            return pos
        pos += len(raw) + 1
    return len(data)


def make_log(n: int, *, seed: int = 1, undated: float = 0.1, start: int = 1_000_000) -> bytes:
    rnd = random.Random(seed)
    t = start
    out = []
    for i in range(n):
        if rnd.random() < undated:
            out.append(f"  continuation {i} " + "z" * rnd.randrange(80))
        else:
            t += rnd.randrange(3)  # several lines share a second, as in real logs
            out.append(f"T={t} host sshd[{i}]: message " + "x" * rnd.randrange(120))
    return ("\n".join(out) + "\n").encode()


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> tuple[Path, bytes]:
    data = make_log(20000)
    path = tmp_path_factory.mktemp("seek") / "big.log"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize("since", [0, 1_000_000, 1_000_001, 1_005_000, 1_010_000, 1_019_999,
                                   1_020_000, 1_030_000, 10**9])
def test_matches_a_linear_scan(big, since):
    path, data = big
    fd = os.open(path, os.O_RDONLY)
    try:
        assert find_since(fd, since, date_of) == reference(data, since)
    finally:
        os.close(fd)


def test_reads_a_small_part_of_a_big_file(big, monkeypatch):
    path, data = big
    read = 0
    real = os.pread

    def counting(fd: int, n: int, off: int) -> bytes:
        nonlocal read
        chunk = real(fd, n, off)
        read += len(chunk)
        return chunk

    monkeypatch.setattr(os, "pread", counting)
    fd = os.open(path, os.O_RDONLY)
    try:
        since = 1_015_000
        assert find_since(fd, since, date_of) == reference(data, since)
    finally:
        os.close(fd)
    assert len(data) > 1_500_000
    assert read < len(data) // 4


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=3000), st.integers(min_value=0, max_value=2**16),
       st.floats(min_value=0.0, max_value=0.9), st.integers(min_value=999_990, max_value=1_004_000))
def test_property_against_linear_scan(tmp_path_factory, n, seed, undated, since):
    data = make_log(n, seed=seed, undated=undated)
    path = tmp_path_factory.mktemp("p") / "log"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert find_since(fd, since, date_of) == reference(data, since)
    finally:
        os.close(fd)


def test_huge_lines_and_unfinished_last_line(tmp_path):
    lines = [f"T={1000 + i} " + "h" * (40000 if i % 3 == 0 else 10) for i in range(30)]
    data = ("\n".join(lines) + "\nT=5000 unfinished").encode()
    path = tmp_path / "huge.log"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        for since in (0, 1010, 1029, 1030):
            assert find_since(fd, since, date_of) == reference(data, since)
    finally:
        os.close(fd)


def test_one_line_bigger_than_the_file_half(tmp_path):
    data = ("T=1 " + "q" * 300000 + "\nT=2 b\n").encode()
    path = tmp_path / "one.log"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert find_since(fd, 2, date_of) == data.index(b"T=2")
        assert find_since(fd, 1, date_of) == 0
    finally:
        os.close(fd)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert find_since(fd, 5, date_of) == 0
    finally:
        os.close(fd)


def test_with_a_real_date_detector_on_a_syslog_file(tmp_path):
    now = 1_795_000_000.0  # 2026-11-19
    lines = []
    for i in range(30000):  # two days of a busy sshd, several lines a second
        t = time.gmtime(now - 2 * 86400 + (i + 1) * 5.76)  # the last line at now
        lines.append(time.strftime("%b %d %H:%M:%S", t) + f" host sshd[{i}]: Failed password "
                     f"for root from 192.0.2.{i % 250} port 22 ssh2")
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "auth.log"
    path.write_bytes(data)
    date_of = dates_from(DateDetector(None, default_tz="UTC"), now)
    since = now - 600  # findtime = 10 minutes
    fd = os.open(path, os.O_RDONLY)
    try:
        found = find_since(fd, since, date_of)
    finally:
        os.close(fd)
    first = data[found:].split(b"\n", 1)[0].decode()
    previous = data[:found].rstrip(b"\n").rsplit(b"\n", 1)[-1].decode()
    assert (date_of(first) or 0) >= since > (date_of(previous) or 0)
    assert found > len(data) * 0.9
