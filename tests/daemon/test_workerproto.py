"""The messages between the daemon and its workers (``daemon.workerproto``): what a worker
is sent comes back as it was; an answer of any other shape is a ProtocolError, never a value
the daemon would count, and nothing in it is run."""

from __future__ import annotations

import marshal
import os
import pickle
from pathlib import Path

import pytest

from warden.core.filter import Failure
from warden.core.filterdef import FilterDefinition, Origin
from warden.core.jail import Jail
from warden.core.spec import JailSpec
from warden.daemon.workerproto import (
    HEADER,
    MAX_MESSAGE,
    Plain,
    decode_answer,
    decode_batch,
    decode_spec,
    encode_answer,
    encode_batch,
    encode_spec,
    message_size,
)
from warden.errors import ProtocolError

SSHD = FilterDefinition(
    "sshd", failregex=(r"^Failed password for (?P<user>\S+) from <HOST>",),
    ignoreregex=(r"for bob from",), prefregex=r"^sshd\[\d+\]: (?P<content>.+)$",
    datepattern="{^LN-BEG}", maxlines=2, journalmatch=("_COMM=sshd",),
    logtimezone="UTC", successregex=(r"^Accepted \S+ for \S+ from <HOST>",),
    origins={"failregex": Origin("/etc/warden/filter.d/sshd.conf", 3)})
FOUND = [(0, 0, Failure("192.0.2.1", 1_800_000_000.0, {"user": "root", "users": ("a", "b"),
                                                       "mlfpending": 1, "port": None},
                        ("line one", "line two"), 0)),
         (3, 1, Failure("192.0.2.2", None, {}, ("accepted",), 0))]


def _body(message: bytes) -> bytes:
    assert message_size(message[:HEADER.size]) == len(message) - HEADER.size
    return message[HEADER.size:]


def test_the_spec_keeps_what_the_filters_need() -> None:
    spec = JailSpec("sshd", (SSHD, FilterDefinition("other")), journal=True,
                    max_line_length=500, trustsuccess=3600.0, maxretry=7)
    back = decode_spec(_body(encode_spec(spec)))
    assert back.filters == spec.filters  # every field of a definition (origins aside)
    assert (back.name, back.journal, back.max_line_length, back.trustsuccess) == \
        ("sshd", True, 500, 3600.0)
    assert back.maxretry == 3  # counting stays in the daemon: not sent
    Jail(back)  # the worker can build its jail from it


def test_batches_and_answers_round_trip() -> None:
    assert decode_batch(_body(encode_batch(7, ["a", "b"], 12.5))) == (7, ["a", "b"], 12.5)
    answer = decode_answer(_body(encode_answer(7, FOUND, 2, 1)), 7, 4)
    assert (answer.seq, answer.matched, answer.ignored) == (7, 2, 1)
    assert answer.found == FOUND


def _answer(*value: Plain) -> bytes:
    return marshal.dumps(value)


RECORD: tuple[Plain, ...] = (0, 0, "192.0.2.1", 1.0, {}, ("x",), 0)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {_Evil.path}",)

    path = "/nonexistent"


@pytest.mark.parametrize(("data", "why"), [
    (b"", "malformed message"),
    (b"\xff\x00garbage", "malformed message"),
    (marshal.dumps([1, 2]), "not an answer"),
    (_answer(8, 0, 0, []), "the answer to batch 8 where batch 7 was next"),
    (_answer(True, 0, 0, []), "the answer to batch True"),
    (_answer(7, -1, 0, []), "not an answer"),
    (_answer(7, 0, 0, ()), "not an answer"),
    (_answer(7, 0, 0, [RECORD[:6]]), "not a failure record"),
    (_answer(7, 0, 0, [(4, *RECORD[1:])]), "another shape"),  # line 4 of a 4-line batch
    (_answer(7, 0, 0, [(2, *RECORD[1:]), RECORD]), "another shape"),  # out of order
    (_answer(7, 0, 0, [(0, 2, *RECORD[2:])]), "another shape"),  # no such kind
    (_answer(7, 0, 0, [(0, 0, b"192.0.2.1", *RECORD[3:])]), "another shape"),
    (_answer(7, 0, 0, [(*RECORD[:4], {"user": ["root"]}, *RECORD[5:])]), "another shape"),
    (_answer(7, 0, 0, [(*RECORD[:4], {1: "x"}, *RECORD[5:])]), "another shape"),
    (_answer(7, 0, 0, [(*RECORD[:5], ("x", 1), 0)]), "another shape"),
    (_answer(7, 0, 0, [(*RECORD[:4], {"code": compile("1", "x", "eval")}, *RECORD[5:])]),
     "another shape"),
])
def test_a_malformed_answer_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(ProtocolError, match="malformed message") as raised:
        decode_answer(data, 7, 4)
    assert why in str(raised.value)


def test_a_pickle_is_refused_and_not_run(tmp_path: Path) -> None:
    _Evil.path = str(tmp_path / "ran")
    with pytest.raises(ProtocolError):
        decode_answer(pickle.dumps(_Evil()), 7, 4)
    assert not (tmp_path / "ran").exists()


def test_an_oversized_message_is_refused_before_it_is_read() -> None:
    assert message_size(HEADER.pack(MAX_MESSAGE)) == MAX_MESSAGE
    with pytest.raises(ProtocolError, match="refused: a message of 4294967295 bytes"):
        message_size(HEADER.pack(2**32 - 1))


@pytest.mark.parametrize("data", [
    marshal.dumps(("sshd", [], True, 100)),
    marshal.dumps(("sshd", [("sshd",)], False, 100, None)),
    marshal.dumps(("sshd", [], "no", 100, None)),
    marshal.dumps(("sshd", [("sshd", ["x"], (), None, None, 1, (), None, ())], False, 1,
                   None)),  # a list, not a tuple, of failregexes
])
def test_a_spec_of_another_shape_is_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed message"):
        decode_spec(data)


@pytest.mark.parametrize("data", [marshal.dumps((1, ["a"])), marshal.dumps((1, [b"a"], 1.0)),
                                  marshal.dumps((1.5, ["a"], 1.0))])
def test_a_batch_of_another_shape_is_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError, match="malformed message: not a batch"):
        decode_batch(data)
