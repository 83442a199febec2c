"""The control codec: every message round-trips; anything else is a clear ProtocolError."""

from __future__ import annotations

import json
import time

import pytest

from warden.errors import ProtocolError
from warden.protocol import (
    BanInfo,
    BannedReply,
    BannedRequest,
    BanReply,
    BanRequest,
    DoneReply,
    FailedReply,
    FleetInfo,
    JailStatusReply,
    OriginCount,
    PingRequest,
    PongReply,
    ReloadRequest,
    Request,
    Response,
    ServerStatusReply,
    SourceInfo,
    StatusRequest,
    StopRequest,
    UnbanReply,
    UnbanRequest,
    VersionReply,
    VersionRequest,
    decode_request,
    decode_response,
    encode,
)

STATUS = JailStatusReply("sshd", 2, 10, (SourceInfo("/var/log/auth.log"),
                                         SourceInfo("/x", "restarting", "gone")),
                         1, 4, ("192.0.2.1",))
REQUESTS: list[Request] = [
    PingRequest(), VersionRequest(), StatusRequest(), StatusRequest("sshd"),
    StatusRequest(all=True), BanRequest("sshd", ("192.0.2.1",)),
    UnbanRequest(None, ("2001:db8::1",)), UnbanRequest(all=True), BannedRequest(),
    BannedRequest(("192.0.2.1",), "sshd"),
    ReloadRequest(), ReloadRequest("sshd", restart=True, unban=True), StopRequest(),
    BanRequest("sshd", ("0.0.0.0/0",), force=True), StatusRequest("sshd", counts_only=True),
]
RESPONSES: list[Response] = [
    PongReply(), VersionReply("0.1.0"), ServerStatusReply(("a", "b")),
    ServerStatusReply(("sshd",), (STATUS,)),
    STATUS, BanReply("sshd", ("192.0.2.1",), ("192.0.2.2",)), UnbanReply(3, ("192.0.2.9",)),
    BannedReply((BanInfo("sshd", "192.0.2.1", 5.5, 10.0, 2),
                BanInfo("x", "2001:db8::1", 1.0, None))),
    DoneReply("reloaded"), FailedReply("no jail 'x'", "usage"),
    JailStatusReply("sshd", 0, 1, (), 100_000, 100_001),
    FailedReply("refusing to ban ::/0", "refused"),
    ServerStatusReply(("sshd",), (), FleetInfo("b", True, ("a", "c"), 0.25, 3, 7, 5, 1)),
    ServerStatusReply(("sshd",), fleet=FleetInfo("b", False, error="connection refused")),
    JailStatusReply("sshd", 0, 1, (), 4, 4, ("192.0.2.1",),
                    (OriginCount("a", 3), OriginCount("c", 1))),
    JailStatusReply("sshd", 0, 1, (), 0, 0, None, ()),
    BannedReply((BanInfo("sshd", "192.0.2.1", 5.5, 10.0, 2, "a"),)),
]


@pytest.mark.parametrize("message", REQUESTS, ids=repr)
def test_requests_round_trip(message: Request) -> None:
    line = encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert decode_request(line) == message


@pytest.mark.parametrize("message", RESPONSES, ids=repr)
def test_responses_round_trip(message: Response) -> None:
    assert decode_response(encode(message)) == message


def test_wire_form_names_version_and_kind() -> None:
    assert json.loads(encode(BanRequest("sshd", ("192.0.2.1",)))) == {
        "v": 1, "kind": "ban", "jail": "sshd", "addrs": ["192.0.2.1"], "force": False}


def test_lines_of_a_client_without_the_newer_fields_still_decode() -> None:
    # an older client sends neither force nor counts_only: it gets what it always got
    assert decode_request(b'{"v":1,"kind":"ban","jail":"sshd","addrs":["192.0.2.1"]}') == \
        BanRequest("sshd", ("192.0.2.1",), force=False)
    assert decode_request(b'{"v":1,"kind":"status","jail":"sshd"}') == \
        StatusRequest("sshd", counts_only=False)
    counts = decode_response(b'{"v":1,"kind":"jail-status","name":"sshd","currently_failed":0,'
                             b'"total_failed":0,"files":[],"currently_banned":2,'
                             b'"total_banned":2,"banned":null}')
    assert isinstance(counts, JailStatusReply) and counts.banned is None
    assert counts.fleet_bans is None


def test_replies_of_a_daemon_without_the_fleet_fields_still_decode() -> None:
    # a daemon from before the fleet fields: no origin, no fleet block, no fleet bans
    assert decode_response(b'{"v":1,"kind":"server-status","jails":["sshd"],"details":[]}') \
        == ServerStatusReply(("sshd",), (), None)
    assert decode_response(b'{"v":1,"kind":"banned-list","bans":[{"jail":"j","addr":"a",'
                           b'"start":1,"remaining":null,"count":1}]}') == \
        BannedReply((BanInfo("j", "a", 1.0, None, 1, None),))
    status = decode_response(b'{"v":1,"kind":"jail-status","name":"sshd","currently_failed":0,'
                             b'"total_failed":0,"files":[],"currently_banned":1,'
                             b'"total_banned":1,"banned":["192.0.2.1"]}')
    assert isinstance(status, JailStatusReply) and status.fleet_bans is None


def test_fleet_fields_on_the_wire() -> None:
    line = encode(ServerStatusReply(("sshd",), fleet=FleetInfo("b", True, ("a",), 1.5, 2)))
    assert json.loads(line)["fleet"] == {
        "name": "b", "connected": True, "peers": ["a"], "lag": 1.5, "outbox": 2,
        "published": 0, "applied": 0, "refused": 0, "error": ""}
    assert json.loads(encode(BannedReply((BanInfo("j", "a", 1.0, None, 1, "c"),))))[
        "bans"][0]["origin"] == "c"
    with pytest.raises(ProtocolError, match=r"jail-status\.fleet_bans"):
        decode_response(b'{"v":1,"kind":"jail-status","name":"s","currently_failed":0,'
                        b'"total_failed":0,"files":[],"currently_banned":0,"total_banned":0,'
                        b'"fleet_bans":[{"host":"a","bans":"3"}]}')


@pytest.mark.parametrize(("line", "needle"), [
    (b"not json", "malformed"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"kind": "ping"}', "version None not supported"),
    (b'{"v": 2, "kind": "ping"}', "version 2 not supported"),
    (b'{"v": 1, "kind": "launch"}', "unknown message kind 'launch'"),
    (b'{"v": 1, "kind": "pong"}', "unknown message kind 'pong'"),  # a response is no request
    (b'{"v": 1, "kind": "ban", "jail": "sshd"}', "addrs"),
    (b'{"v": 1, "kind": "ban", "jail": 3, "addrs": []}', "ban.jail"),
    (b'{"v": 1, "kind": "ban", "jail": "s", "addrs": "192.0.2.1"}', "expected a list"),
    (b'{"v": 1, "kind": "ban", "jail": "s", "addrs": [1]}', "ban.addrs[0]"),
    (b'{"v": 1, "kind": "unban", "all": "yes"}', "unban.all"),
    (b'{"v": 1, "kind": "stop", "now": true}', "unknown field(s) now"),
    (b'\xff\xfe', "malformed"),
])
def test_bad_requests_are_protocol_errors(line: bytes, needle: str) -> None:
    with pytest.raises(ProtocolError, match=None) as info:
        decode_request(line)
    assert needle in str(info.value)


def test_nested_records_are_checked() -> None:
    bad = b'{"v":1,"kind":"banned-list","bans":[{"jail":"j","addr":"a","start":"x","remaining":1}]}'
    with pytest.raises(ProtocolError, match=r"bans\[0\]"):
        decode_response(bad)
    with pytest.raises(ProtocolError):
        decode_response(b'{"v":1,"kind":"banned-list","bans":[5]}')


def test_int_is_accepted_where_float_is_declared_but_bool_is_not() -> None:
    line = (b'{"v":1,"kind":"banned-list",'
            b'"bans":[{"jail":"j","addr":"a","start":3,"remaining":null}]}')
    decoded = decode_response(line)
    assert decoded == BannedReply((BanInfo("j", "a", 3.0, None),))
    with pytest.raises(ProtocolError):
        decode_response(b'{"v":1,"kind":"unban-result","count":true}')


def test_a_status_of_10000_bans_decodes_fast() -> None:
    big = JailStatusReply("sshd", 0, 0, (), 10_000, 10_000,
                     tuple(f"2001:db8::{i:x}" for i in range(10_000)))
    started = time.perf_counter()
    assert decode_response(encode(big)) == big
    assert time.perf_counter() - started < 0.5
