"""Backend names, encodings and positions as plain values."""

from __future__ import annotations

import json

import pytest

from warden.errors import SourceError
from warden.sources.base import (
    FilePosition,
    JournalPosition,
    SourceState,
    SourceStatus,
    position_from_dict,
    resolve_backend,
    resolve_encoding,
)


@pytest.mark.parametrize(("name", "platform", "expected"), [
    ("auto", "linux", "inotify"),
    ("auto", "freebsd14", "kqueue"),
    ("auto", "darwin", "kqueue"),
    ("auto", "sunos5", "polling"),
    ("polling", "linux", "polling"),
    ("pyinotify", "linux", "inotify"),
    ("gamin", "linux", "inotify"),
    ("kqueue", "linux", "kqueue"),
    ("systemd", "linux", "systemd"),
    ("systemd[journalflags=1]", "linux", "systemd"),
    (" Polling ", "linux", "polling"),
])
def test_backend_names(name, platform, expected):
    assert resolve_backend(name, platform=platform) == expected


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(SourceError, match=r"unknown backend 'fam'.*auto, polling"):
        resolve_backend("fam")


@pytest.mark.parametrize(("name", "expected"), [
    ("utf-8", "utf-8"), ("UTF8", "utf-8"), ("latin-1", "iso8859-1"), ("ascii", "ascii"),
])
def test_encodings(name, expected):
    assert resolve_encoding(name) == expected


def test_auto_encoding_is_the_locale_one():
    assert resolve_encoding("auto")  # whatever the locale says, it resolves to a codec


@pytest.mark.parametrize(("name", "message"), [
    ("klingon", "unknown logencoding 'klingon'"),
    ("utf-16", "does not write a newline as one byte"),
])
def test_bad_encodings(name, message):
    with pytest.raises(SourceError, match=message):
        resolve_encoding(name)


@pytest.mark.parametrize("position", [
    FilePosition("/var/log/auth.log", 1234, 2049, 77, "ab" * 16, 1024),
    JournalPosition("s=1;i=2;b=3"),
])
def test_positions_round_trip_through_json(position):
    assert position_from_dict(json.loads(json.dumps(position.as_dict()))) == position


@pytest.mark.parametrize("data", [
    {"kind": "file", "path": "/x"},
    {"kind": "file", "path": "/x", "offset": "many", "dev": 1, "ino": 1, "head": "", "head_len": 0},
    {"kind": "file", "path": "/x", "offset": True, "dev": 1, "ino": 1, "head": "", "head_len": 0},
    {"kind": "tape"},
    {},
])
def test_damaged_positions_are_clear_errors(data):
    with pytest.raises(SourceError, match="stored log position"):
        position_from_dict(data)


def test_status_as_dict():
    st = SourceStatus("/l", SourceState.MISSING, FilePosition("/l", 3), 2, "boom")
    d = st.as_dict()
    assert d["state"] == "missing" and d["restarts"] == 2 and d["error"] == "boom"
    assert d["position"] == FilePosition("/l", 3).as_dict()
    assert json.dumps(SourceStatus("/l", SourceState.OK).as_dict())
