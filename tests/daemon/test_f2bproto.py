"""fail2ban's wire format read safely: a table of pickles that must be refused, and of plain
messages that must come through unchanged; the answers are what fail2ban's client reads."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest

from warden.daemon.f2bproto import (
    END,
    MAX_DEPTH,
    MAX_MESSAGE,
    dump_error,
    dump_reply,
    load_command,
)
from warden.errors import ProtocolError


class _Call:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (self.command,)


class _Thing:
    pass


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


def _doubling(times: int) -> object:
    value: object = "x"
    for _ in range(times):
        value = [value, value]
    return value


def _self_containing() -> object:
    loop: list[object] = ["ping"]
    loop.append(loop)
    return loop


def _refused(marker: Path) -> dict[str, bytes]:
    shell = f"touch {marker}"
    return {
        "GLOBAL then REDUCE": f"cos\nsystem\n(S'{shell}'\ntR.".encode(),
        "STACK_GLOBAL then REDUCE": pickle.dumps(_Call(shell), protocol=4),
        "a call inside a list": pickle.dumps(["ping", _Call(shell)], protocol=2),
        "INST": f"(S'{shell}'\nios\nsystem\n.".encode(),
        "a class instance": pickle.dumps(_Thing(), protocol=4),
        "a builtin by name": pickle.dumps(len, protocol=4),
        "a set": pickle.dumps({"a"}, protocol=4),
        "a frozenset": pickle.dumps(frozenset({"a"}), protocol=4),
        "a bytearray": pickle.dumps(bytearray(b"x"), protocol=5),
        "a persistent id": b"\x80\x04\x8c\x01x\x94Q.",
        "an extension code": b"\x80\x02\x82\x01.",
        "too deep": pickle.dumps(_nested(MAX_DEPTH + 1), protocol=4),
        "exponential through the memo": pickle.dumps(_doubling(30), protocol=4),
        "a list that contains itself": pickle.dumps(_self_containing(), protocol=4),
        "a list as a dict key": b"\x80\x04}](e\x8c\x01v\x94s.",
        "truncated": pickle.dumps(["ping"], protocol=4)[:-3],
        "not a pickle": b"ping",
        "too long": pickle.dumps(["x" * MAX_MESSAGE], protocol=4),
    }


@pytest.mark.parametrize("name", list(_refused(Path("/nonexistent"))))
def test_anything_but_plain_values_is_refused_and_nothing_runs(name: str, tmp_path: Path
                                                                ) -> None:
    marker = tmp_path / "ran"
    with pytest.raises(ProtocolError):
        load_command(_refused(marker)[name])
    assert not marker.exists()


@pytest.mark.parametrize("value", [
    ["ping"], ["set", "sshd", "banip", "192.0.2.9"], ["status", "sshd", "short"],
    ["echo", "x", 1, 2**80, -3, 2.5, True, False, None, ["a", ("b",)], {"k": [1]}],
    ["reload", "--all", ["--restart"], [["start", "sshd"]]],
    _nested(MAX_DEPTH - 1),
])
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_plain_values_come_through(value: object, protocol: int) -> None:
    assert load_command(pickle.dumps(value, protocol=protocol)) == value


def test_bytes_come_through_from_protocol_3_on() -> None:
    # before protocol 3 bytes are pickled as a call of _codecs.encode: refused like any call
    assert load_command(pickle.dumps(["echo", b"y"], protocol=4)) == ["echo", b"y"]
    with pytest.raises(ProtocolError, match="GLOBAL"):
        load_command(pickle.dumps(["echo", b"y"], protocol=2))


def test_each_bound_says_which_it_is() -> None:
    with pytest.raises(ProtocolError, match="more than 100000 values"):
        load_command(pickle.dumps(_doubling(30), protocol=4))  # 256 bytes, 2**30 values
    with pytest.raises(ProtocolError, match="nests deeper than 32"):
        load_command(b"\x80\x04" + b"]" * 100_000 + b"a" * 99_999 + b".")
    with pytest.raises(ProtocolError, match="longer than"):
        load_command(pickle.dumps(["x" * MAX_MESSAGE], protocol=4))


def test_a_reply_is_fail2bans_code_and_result_with_the_marker() -> None:
    data = dump_reply([("Number of jail", 1), ("Jail list", "sshd")])
    assert data.endswith(END)
    assert pickle.loads(data[:-len(END)]) == (0, [("Number of jail", 1), ("Jail list", "sshd")])


class _UnknownJail(KeyError):
    pass


class _ClientSide(pickle.Unpickler):
    """What fail2ban's client finds for the classes an error names (it has them installed)."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) == ("fail2ban.server.jails", "UnknownJailException"):
            return _UnknownJail
        assert module == "builtins" and name in ("Exception", "IndexError"), (module, name)
        return super().find_class(module, name)


@pytest.mark.parametrize(("kind", "cls"), [("unknown-jail", _UnknownJail),
                                           ("invalid", IndexError), ("failed", Exception)])
def test_an_error_is_code_1_with_the_exception_fail2bans_client_prints(kind: str, cls: type
                                                                        ) -> None:
    data = dump_error("nope", kind)
    assert data.endswith(END)
    code, error = _ClientSide(io.BytesIO(data[:-len(END)])).load()
    assert code == 1 and type(error) is cls
    assert isinstance(error, Exception) and error.args == ("nope",)
