"""fail2ban-client's get/set of a running jail and of the server, through the one handler.

A real core jail behind the fake daemon: a ``set`` must change what the jail does (a lower
maxretry bans sooner, an added ignoreip stops counting), keep its failures and bans, and
answer with the value fail2ban's server would return.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from tests.daemon.fake_context import FILTERS, FakeContext, fake_context
from warden.core.decisions import Ban
from warden.daemon.service import handle
from warden.protocol import (
    FailedReply,
    FlushLogsRequest,
    JailControlRequest,
    JailGetRequest,
    JailSetRequest,
    OptionReply,
    PingRequest,
    Request,
    Response,
    ServerGetRequest,
    ServerSetRequest,
    decode_response,
    encode,
)

pytestmark = pytest.mark.skipif(not (FILTERS / "sshd.conf").exists(),
                                reason="needs fail2ban's sshd filter")

LINE = "{date} host sshd[1]: Failed password for root from {ip} port 22 ssh2"


def stamp(ctx: FakeContext) -> str:
    return time.strftime("%b %d %H:%M:%S", time.localtime(ctx.clock))


def ask(ctx: FakeContext, request: Request) -> Response:
    response = asyncio.run(handle(ctx, request))
    assert decode_response(encode(response)) == response  # every answer crosses the wire
    return response


def value(ctx: FakeContext, request: Request) -> object:
    response = ask(ctx, request)
    assert isinstance(response, OptionReply), response
    return response.decoded()


def feed(ctx: FakeContext, ip: str, times: int) -> list[Ban]:
    jail = ctx.jails["sshd"].jail
    bans: list[Ban] = []
    line = LINE.format(date=stamp(ctx), ip=ip)
    for _ in range(times):
        bans += [d for d in jail.feed(line, ctx.clock) if isinstance(d, Ban)]
    return bans


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    context = fake_context(tmp_path, "sshd")
    context.clock = 1_780_000_000.0  # log lines carry this day's date
    return context


def test_gets_answer_fail2ban_values(ctx: FakeContext, tmp_path: Path) -> None:
    def get(option: str, *args: str) -> object:
        return value(ctx, JailGetRequest("sshd", option, args))

    assert (get("maxretry"), get("bantime"), get("findtime")) == (3, 600, 3600)
    assert (get("maxmatches"), get("maxlines"), get("usedns")) == (5, 1, "warn")
    assert (get("ignoreself"), get("ignoreip"), get("ignorecommand")) == (False, [], False)
    assert get("ignorecache") is None and get("bantime.increment") is None
    assert get("logpath") == [str(tmp_path / "auth.log")]
    assert get("datepattern") == [None, "Default Detectors"]
    assert get("actions") == ["dummy"] and get("journalmatch") == []
    assert get("ignoreregex") == [] and len(get("failregex")) > 10  # type: ignore[arg-type]
    assert get("action", "dummy", "timeout") == 60
    refused = ask(ctx, JailGetRequest("sshd", "nothing"))
    assert isinstance(refused, FailedReply) and "Invalid command" in refused.message
    unknown = ask(ctx, JailGetRequest("nope", "maxretry"))
    assert isinstance(unknown, FailedReply) and "'nope' does not exist" in unknown.message


def test_set_maxretry_bans_sooner_and_keeps_counted_failures(ctx: FakeContext) -> None:
    assert feed(ctx, "192.0.2.5", 1) == []
    assert value(ctx, JailSetRequest("sshd", "maxretry", ("2",))) == 2
    assert ctx.reconfigured == ["sshd"]
    assert ctx.jails["sshd"].config.maxretry == 2
    # the failure counted before the set still counts: one more bans
    assert [str(b.address) for b in feed(ctx, "192.0.2.5", 1)] == ["192.0.2.5"]


def test_set_bantime_findtime_take_durations(ctx: FakeContext) -> None:
    assert value(ctx, JailSetRequest("sshd", "bantime", ("1h",))) == 3600
    assert value(ctx, JailSetRequest("sshd", "findtime", ("20m",))) == 1200
    assert ctx.jails["sshd"].jail.policy.bantime == 3600
    bans = feed(ctx, "192.0.2.6", 3)
    assert bans and bans[0].until is not None and bans[0].until - bans[0].time == 3600
    bad = ask(ctx, JailSetRequest("sshd", "bantime", ("soon",)))
    assert isinstance(bad, FailedReply) and "soon" in bad.message
    assert ctx.jails["sshd"].config.bantime == 3600  # unchanged


def test_addignoreip_stops_counting_and_delignoreip_restores(ctx: FakeContext) -> None:
    assert value(ctx, JailSetRequest("sshd", "addignoreip",
                                     ("192.0.2.0/24", "198.51.100.1"))) == \
        ["192.0.2.0/24", "198.51.100.1"]
    assert feed(ctx, "192.0.2.7", 3) == []
    assert value(ctx, JailSetRequest("sshd", "delignoreip", ("192.0.2.0/24",))) == \
        ["198.51.100.1"]
    assert feed(ctx, "192.0.2.7", 3) != []
    bad = ask(ctx, JailSetRequest("sshd", "addignoreip", ("300.1.1.1/33",)))
    assert isinstance(bad, FailedReply) and "300.1.1.1/33" in bad.message


def test_failregex_add_and_delete_change_matching(ctx: FakeContext) -> None:
    count = len(value(ctx, JailGetRequest("sshd", "failregex")))  # type: ignore[arg-type]
    listed = value(ctx, JailSetRequest("sshd", "addfailregex", (r"^Knock from <HOST>$",)))
    assert isinstance(listed, list) and len(listed) == count + 1
    jail = ctx.jails["sshd"].jail
    line = f"{stamp(ctx)} host sshd[1]: Knock from 203.0.113.9"
    assert jail.feed(line, ctx.clock) == [] and jail.tracker.count("203.0.113.9") == 1
    assert len(value(ctx, JailSetRequest("sshd", "delfailregex",
                                         (str(count),)))) == count  # type: ignore[arg-type]
    jail.feed(line, ctx.clock)
    assert jail.tracker.count("203.0.113.9") == 1  # not counted again
    for bad in (("99",), ("x",)):
        assert isinstance(ask(ctx, JailSetRequest("sshd", "delfailregex", bad)), FailedReply)
    no_host = ask(ctx, JailSetRequest("sshd", "addfailregex", ("^(unclosed <HOST>",)))
    assert isinstance(no_host, FailedReply)
    assert value(ctx, JailSetRequest("sshd", "addignoreregex", ("^x",))) == ["^x"]
    assert value(ctx, JailSetRequest("sshd", "delignoreregex", ("0",))) == []


def test_bantime_extras_none_until_set(ctx: FakeContext) -> None:
    assert value(ctx, JailSetRequest("sshd", "bantime.increment", ("true",))) is True
    assert ctx.jails["sshd"].jail.policy.increments
    assert value(ctx, JailSetRequest("sshd", "bantime.maxtime", ("1d",))) == 86400
    assert value(ctx, JailSetRequest("sshd", "bantime.factor", ("2",))) == "2"
    assert value(ctx, JailGetRequest("sshd", "bantime.rndtime")) is None
    bad = ask(ctx, JailSetRequest("sshd", "bantime.formula", ("import os",)))
    assert isinstance(bad, FailedReply)


def test_other_jail_options(ctx: FakeContext) -> None:
    assert value(ctx, JailSetRequest("sshd", "usedns", ("no",))) == "no"
    assert ctx.jails["sshd"].jail.spec.usedns == "no"
    assert isinstance(ask(ctx, JailSetRequest("sshd", "usedns", ("maybe",))), FailedReply)
    assert value(ctx, JailSetRequest("sshd", "ignoreself", ("true",))) is True
    assert value(ctx, JailSetRequest("sshd", "maxmatches", ("7",))) == 7
    assert value(ctx, JailSetRequest("sshd", "maxlines", ("2",))) == 2
    assert value(ctx, JailSetRequest("sshd", "ignorecommand", ("/bin/false",))) == "/bin/false"
    assert value(ctx, JailSetRequest("sshd", "ignorecache",
                                     ('key="<ip>",max-time=5m',))) == ["<ip>", 100, 300]
    assert value(ctx, JailSetRequest("sshd", "datepattern", ("{^LN-BEG}",))) == \
        [None, "Default Detectors"]
    assert value(ctx, JailSetRequest("sshd", "logencoding", ("ascii",))) == "ascii"
    assert isinstance(ask(ctx, JailSetRequest("sshd", "maxretry", ("x",))), FailedReply)
    assert isinstance(ask(ctx, JailSetRequest("sshd", "maxretry", ("0",))), FailedReply)


def test_logpath_add_and_remove(ctx: FakeContext, tmp_path: Path) -> None:
    other = tmp_path / "other.log"
    other.touch()
    assert value(ctx, JailSetRequest("sshd", "addlogpath", (str(other), "tail"))) == \
        [str(tmp_path / "auth.log"), str(other)]
    assert ctx.jails["sshd"].watches(str(other))
    bad = ask(ctx, JailSetRequest("sshd", "addlogpath", (str(other), "middle")))
    assert isinstance(bad, FailedReply) and "'head' or 'tail'" in bad.message
    assert value(ctx, JailSetRequest("sshd", "dellogpath", (str(other),))) == \
        [str(tmp_path / "auth.log")]
    assert not ctx.jails["sshd"].watches(str(other))


def test_attempt_counts_a_failure(ctx: FakeContext) -> None:
    for _ in range(3):
        assert value(ctx, JailSetRequest("sshd", "attempt", ("192.0.2.50", "line"))) == 1
    assert any(isinstance(d, Ban) for d in ctx.carried)


def test_what_warden_cannot_change_is_refused_with_a_reason(ctx: FakeContext) -> None:
    # a method of fail2ban's Python action object: warden's actions have none
    refused = ask(ctx, JailSetRequest("sshd", "action", ("dummy", "ban", "{}")))
    assert isinstance(refused, FailedReply) and "not Python objects" in refused.message
    for words, message in ((("nope", "actionban", "x"), "Invalid Action name: nope"),
                           (("dummy", "timeout", "soon"), "not a positive number")):
        refused = ask(ctx, JailSetRequest("sshd", "action", words))
        assert isinstance(refused, FailedReply) and message in refused.message, words
    # addaction and delaction: fail2ban's refusals, a Python action's reason
    for added, message in ((("x", "/tmp/x.py", "{}"), "Python action"),
                           (("dummy",), "Action dummy already exists")):
        refused = ask(ctx, JailSetRequest("sshd", "addaction", added))
        assert isinstance(refused, FailedReply) and message in refused.message, added
    refused = ask(ctx, JailSetRequest("sshd", "delaction", ("x",)))
    assert isinstance(refused, FailedReply) and "Invalid Action name: x" in refused.message
    unknown = ask(ctx, JailSetRequest("sshd", "nothing", ("1",)))
    assert isinstance(unknown, FailedReply) and "Invalid command 'nothing'" in unknown.message
    assert ctx.reconfigured == []


def test_addaction_and_delaction_change_the_jails_actions(ctx: FakeContext) -> None:
    (ctx.config_dir / "action.d" / "mark.conf").write_text(
        "[Definition]\nactionban = echo <name> <ip>\n")
    assert value(ctx, JailSetRequest("sshd", "addaction", ("mark",))) == "mark"
    action = ctx.jails["sshd"].config.actions[-1]
    # loaded with the jail's options, as an action = mark line of the jail would be
    assert (action.file, action.options["actionban"]) == ("mark", "echo sshd <ip>")
    # no such action.d file: fail2ban's empty command action of that name
    assert value(ctx, JailSetRequest("sshd", "addaction", ("blank",))) == "blank"
    assert value(ctx, JailGetRequest("sshd", "actions")) == ["dummy", "mark", "blank"]
    assert value(ctx, JailSetRequest("sshd", "delaction", ("mark",))) is None
    assert value(ctx, JailGetRequest("sshd", "actions")) == ["dummy", "blank"]
    assert ctx.reconfigured == ["sshd"] * 3
    # a command and a value of a running action
    assert value(ctx, JailSetRequest("sshd", "action", ("dummy", "actionban", "echo", "<ip>"))
                 ) == "echo <ip>"
    assert value(ctx, JailSetRequest("sshd", "action", ("dummy", "timeout", "30"))) == 30
    assert ctx.jails["sshd"].config.actions[0].options["actionban"] == "echo <ip>"


def test_server_options(ctx: FakeContext) -> None:
    assert value(ctx, ServerGetRequest("loglevel")) == "INFO"
    assert value(ctx, ServerGetRequest("dbpurgeage")) == 86400
    assert value(ctx, ServerSetRequest("loglevel", ("DEBUG",))) == "DEBUG"
    assert value(ctx, ServerGetRequest("loglevel")) == "DEBUG"
    assert isinstance(ask(ctx, ServerSetRequest("loglevel", ("LOUD",))), FailedReply)
    assert value(ctx, ServerSetRequest("dbpurgeage", ("2d",))) == 172800
    assert value(ctx, ServerGetRequest("dbpurgeage")) == 172800
    assert value(ctx, ServerSetRequest("dbmaxmatches", ("3",))) == 3
    # the log target and syslog socket: the daemon's answer, or its refusal as it words it
    assert value(ctx, ServerSetRequest("logtarget", ("/tmp/other.log",))) == "/tmp/other.log"
    assert value(ctx, ServerGetRequest("logtarget")) == "/tmp/other.log"
    assert value(ctx, ServerSetRequest("syslogsocket", ("/dev/log",))) == "/dev/log"
    failed = ask(ctx, ServerSetRequest("logtarget", ("/nonexistent/x.log",)))
    assert isinstance(failed, FailedReply)
    assert failed.message.startswith("Failed to change logtarget")
    assert isinstance(ask(ctx, ServerSetRequest("logtarget", ("",))), FailedReply)
    for option, bad in (("dbpurgeage", "later"), ("dbmaxmatches", "-1"),
                        ("dbmaxmatches", "5000")):
        assert isinstance(ask(ctx, ServerSetRequest(option, (bad,))), FailedReply), bad
    # dbfile as fail2ban answers it: the file in use is kept, another refused while jails run
    ctx.settings["dbfile"] = "/var/lib/warden/warden.db"
    assert value(ctx, ServerSetRequest("dbfile", ("/var/lib/warden/warden.db",))) == \
        "/var/lib/warden/warden.db"
    refused = ask(ctx, ServerSetRequest("dbfile", ("/tmp/x.db",)))
    assert isinstance(refused, FailedReply) and \
        refused.message == "Cannot change database when there are jails present"
    for name in list(ctx.jails):
        del ctx.jails[name]
    refused = ask(ctx, ServerSetRequest("dbfile", ("/tmp/x.db",)))
    assert isinstance(refused, FailedReply) and "restart" in refused.message
    assert isinstance(ask(ctx, ServerGetRequest("nothing")), FailedReply)
    assert value(ctx, FlushLogsRequest()) == "rolled over" and ctx.flushes == 1


def test_stop_and_start_a_jail(ctx: FakeContext) -> None:
    feed(ctx, "192.0.2.8", 3)
    assert value(ctx, JailControlRequest("stop", "sshd")) is None
    assert "sshd" not in ctx.jails and "sshd" in ctx.stopped
    assert isinstance(ask(ctx, JailControlRequest("stop", "sshd")), FailedReply)
    assert value(ctx, JailControlRequest("start", "sshd")) is None
    assert "sshd" in ctx.jails
    assert isinstance(ask(ctx, JailControlRequest("start", "nope")), FailedReply)
    added = ask(ctx, JailControlRequest("add", "web", "polling"))
    assert isinstance(added, FailedReply) and "jail.local" in added.message
    assert isinstance(ask(ctx, JailControlRequest("add", "sshd")), FailedReply)


def test_journalmatch_of_a_journal_jail(ctx: FakeContext) -> None:
    slot = ctx.jails["sshd"]
    refused = ask(ctx, JailSetRequest("sshd", "addjournalmatch", ("_COMM=sshd",)))
    assert isinstance(refused, FailedReply) and "backend = systemd" in refused.message
    slot.config = dataclasses.replace(slot.config, backend="systemd",
                                      journalmatch=("_SYSTEMD_UNIT=sshd.service + _COMM=sshd",))
    assert value(ctx, JailGetRequest("sshd", "journalmatch")) == \
        [["_SYSTEMD_UNIT=sshd.service"], ["_COMM=sshd"]]
    assert value(ctx, JailSetRequest("sshd", "addjournalmatch",
                                     ("_SYSTEMD_UNIT=ssh.service", "PRIORITY=5"))) == \
        [["_SYSTEMD_UNIT=sshd.service"], ["_COMM=sshd"],
         ["_SYSTEMD_UNIT=ssh.service", "PRIORITY=5"]]
    assert value(ctx, JailSetRequest("sshd", "deljournalmatch", ("_COMM=sshd",))) == \
        [["_SYSTEMD_UNIT=sshd.service"], ["_SYSTEMD_UNIT=ssh.service", "PRIORITY=5"]]
    assert ctx.jails["sshd"].config.journalmatch == \
        ("_SYSTEMD_UNIT=sshd.service", "_SYSTEMD_UNIT=ssh.service PRIORITY=5")
    for bad in (("_COMM=nope",), ("lowercase=x",)):
        assert isinstance(ask(ctx, JailSetRequest("sshd", "deljournalmatch", bad)), FailedReply)
    assert isinstance(ask(ctx, JailSetRequest("sshd", "addjournalmatch", ("x",))), FailedReply)


def test_an_idle_jail_reads_no_lines(ctx: FakeContext) -> None:
    assert value(ctx, JailSetRequest("sshd", "idle", ("on",))) is True
    assert feed(ctx, "192.0.2.60", 3) == [] and ctx.jails["sshd"].jail.total_failed == 0
    assert value(ctx, JailSetRequest("sshd", "idle", ("off",))) is False
    assert feed(ctx, "192.0.2.60", 3) != []
    refused = ask(ctx, JailSetRequest("sshd", "idle", ("maybe",)))
    assert isinstance(refused, FailedReply) and "'on' or 'off'" in refused.message


def test_loop_answers_ping_while_a_set_compiles_its_regex(ctx: FakeContext) -> None:
    # a regex that takes a good part of a second to parse and screen: the set checks it off
    # the event loop, so a ping sent after the set is answered before the set is
    big = "^(?:" + "|".join(f"knock{i}x" for i in range(600)) + r") from <HOST>$"
    order: list[str] = []

    async def both() -> None:
        async def one(name: str, request: Request) -> None:
            await handle(ctx, request)
            order.append(name)
        setting = asyncio.create_task(one("set", JailSetRequest("sshd", "addfailregex", (big,))))
        await asyncio.sleep(0)  # the set is under way
        await one("ping", PingRequest())
        await setting
    asyncio.run(both())
    assert order == ["ping", "set"]
    assert ctx.jails["sshd"].config.filter is not None
    assert ctx.jails["sshd"].config.filter.failregex[-1] == big  # and the set took effect


def test_two_sets_at_once_both_take_effect(ctx: FakeContext) -> None:
    async def both() -> list[Response]:
        return list(await asyncio.gather(
            handle(ctx, JailSetRequest("sshd", "addfailregex", (r"^Knock from <HOST>$",))),
            handle(ctx, JailSetRequest("sshd", "addfailregex", (r"^Tap from <HOST>$",)))))
    assert all(isinstance(r, OptionReply) for r in asyncio.run(both()))
    flt = ctx.jails["sshd"].config.filter
    assert flt is not None and flt.failregex[-2:] == (r"^Knock from <HOST>$",
                                                     r"^Tap from <HOST>$")
