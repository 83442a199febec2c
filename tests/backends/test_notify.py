"""Mail through a fake sendmail (records argv and stdin) and a webhook to a local server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import time
from pathlib import Path

import pytest

from tests.httpsink import http_server
from warden.backends.base import BanEntry as FwBan
from warden.backends.base import JailRule, UnbanEntry
from warden.backends.notify import (
    Dispatcher,
    MailBackend,
    MailNotifier,
    Notice,
    WebhookNotifier,
)
from warden.backends.registry import create_backend, native_action
from warden.backends.runner import Completed, RecordingRunner
from warden.config import JailConfig, load_jails
from warden.daemon.firewall import route_for
from warden.errors import BackendError

EVIL = "root'; $(touch PWNED) `id` | rm -rf / \"x\""
BAN = Notice("ban", "sshd", "192.0.2.7", 1_700_000_000.0, 1_700_000_600.0, 5,
             (f"sshd[1]: Failed password for {EVIL} from 192.0.2.7",), {"user": EVIL})


def _fake_sendmail(tmp_path: Path, body: str = "") -> Path:
    script = tmp_path / "sendmail"
    script.write_text("#!/bin/sh\n"
                      f"printf '%s\\n' \"$@\" > {tmp_path}/args\n"
                      f"cat > {tmp_path}/stdin\n{body}")
    script.chmod(0o755)
    return script


def test_mail_goes_to_sendmail_stdin_intact(tmp_path: Path) -> None:
    sendmail = _fake_sendmail(tmp_path)
    notifier = MailNotifier(["admin@example.org"], sender="warden@example.org",
                            sendmail=str(sendmail), hostname="victim.example.org")
    asyncio.run(notifier.send(BAN))
    assert (tmp_path / "args").read_text().split("\n")[:-1] == [
        "-i", "-f", "warden@example.org", "--", "admin@example.org"]
    msg = email.message_from_bytes((tmp_path / "stdin").read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "[warden] sshd: banned 192.0.2.7 on victim.example.org"
    assert msg["To"] == "admin@example.org"
    body = msg.get_body().get_content()  # type: ignore[union-attr]
    assert f"Failed password for {EVIL} from 192.0.2.7" in body
    assert "after 5 failures" in body
    assert not list(tmp_path.glob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))


def test_mail_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="invalid address"):
        MailNotifier(["-oQ/tmp/x"])
    with pytest.raises(BackendError, match="no recipient"):
        MailNotifier([])
    failing = _fake_sendmail(tmp_path, "echo 'mailbox full' >&2; exit 75\n")
    with pytest.raises(BackendError, match="sendmail exited with 75: mailbox full"):
        asyncio.run(MailNotifier(["root"], sendmail=str(failing)).send(BAN))
    with pytest.raises(BackendError, match="not found"):
        asyncio.run(MailNotifier(["root"], sendmail=str(tmp_path / "none")).send(BAN))


def test_webhook_posts_json() -> None:
    with http_server() as (url, received):
        asyncio.run(WebhookNotifier(url).send(BAN))
    assert [{k: r[k] for k in ("type", "body")} for r in received] == [{
        "type": "application/json", "body": {
        "event": "ban", "jail": "sshd", "ip": "192.0.2.7", "time": 1_700_000_000.0,
        "until": 1_700_000_600.0, "failures": 5, "matches": list(BAN.matches),
        "fields": {"user": EVIL}}}]
    with http_server(status=500) as (url, _), pytest.raises(BackendError, match="answered 500"):
        asyncio.run(WebhookNotifier(url).send(BAN))
    with pytest.raises(BackendError, match="must start with http"):
        WebhookNotifier("file:///etc/passwd")


def test_dispatcher_rate_limits_and_bounds_time(tmp_path: Path) -> None:
    now = [0.0]
    errors: list[str] = []

    async def scenario() -> Dispatcher:
        with http_server() as (url, received):
            hook = WebhookNotifier(url)
            slow = MailNotifier(["root"], sendmail=str(_fake_sendmail(tmp_path, "sleep 30\n")))
            dispatcher = Dispatcher([hook, slow], per_minute=1, burst=2, timeout=0.3,
                                    clock=lambda: now[0], on_error=errors.append)
            async with asyncio.TaskGroup() as group:
                task = group.create_task(dispatcher.run())
                for i in range(5):
                    dispatcher.submit(Notice("ban", "sshd", f"192.0.2.{i}"))
                await dispatcher.drain()
                now[0] += 60  # a minute later one more token per notifier
                dispatcher.submit(Notice("ban", "sshd", "192.0.2.99"))
                await dispatcher.drain()
                task.cancel()
            assert [r["body"]["ip"] for r in received] == ["192.0.2.0", "192.0.2.1", "192.0.2.99"]
        return dispatcher

    started = time.monotonic()
    dispatcher = asyncio.run(scenario())
    assert time.monotonic() - started < 10  # three slow mails, each cut at 0.3 s
    assert (dispatcher.sent, dispatcher.failed, dispatcher.dropped) == (3, 3, 6)
    assert sum("no answer within 0.3s" in e for e in errors) == 3
    assert any("rate limit reached" in e for e in errors)


def test_cancelling_kills_a_running_sendmail(tmp_path: Path) -> None:
    sendmail = _fake_sendmail(tmp_path, f"echo $$ > {tmp_path}/pid; sleep 30\n")

    async def scenario() -> None:
        dispatcher = Dispatcher([MailNotifier(["root"], sendmail=str(sendmail))], timeout=60)
        task = asyncio.create_task(dispatcher.run())
        dispatcher.submit(BAN)
        deadline = time.monotonic() + 5
        while not (tmp_path / "pid").exists() or not (tmp_path / "pid").read_text():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 5
    pid = int((tmp_path / "pid").read_text())
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text(
    ).split()[2]


def test_mail_backend_one_mail_per_new_ban(tmp_path: Path) -> None:
    mailbox = tmp_path / "mailbox"
    sendmail = tmp_path / "sendmail"
    sendmail.write_text(f"#!/bin/sh\n{{ printf 'ARGS %s\\n' \"$*\"; cat; }} >> {mailbox}\n")
    sendmail.chmod(0o755)
    spec = native_action("sendmail-whois-lines", {"dest": "a@example.org, b@example.org",
                                                  "sender": "warden@example.org"}, jail="sshd")
    assert spec is not None and spec.kind == "mail"
    backend = create_backend(spec)
    assert isinstance(backend, MailBackend)
    backend.mailer.sendmail = str(sendmail)
    backend.start([spec.rule])
    now = time.time()
    backend.ban([FwBan("sshd", "192.0.2.7", now + 60, {"failures": 4, "matches": [EVIL]}),
                 FwBan("sshd", "192.0.2.8", now + 60, {"restored": True})])
    backend.commit(now)
    backend.ban([FwBan("sshd", "192.0.2.7", now + 60)])  # banned already: no second mail
    backend.commit(now)
    text = mailbox.read_text()
    assert text.count("ARGS -i -f warden@example.org -- a@example.org b@example.org") == 1
    assert "banned 192.0.2.7" in text and "192.0.2.8" not in text and EVIL in text
    assert backend.banned("sshd") == {ipaddress.ip_network("192.0.2.7/32"),
                                      ipaddress.ip_network("192.0.2.8/32")}


def test_mail_backend_rate_and_errors(tmp_path: Path) -> None:
    calls = RecordingRunner()
    backend = MailBackend(["root"], runner=calls, per_minute=1, burst=2)
    backend.start([JailRule("sshd")])
    backend.ban(FwBan("sshd", f"192.0.2.{i}", None) for i in range(1, 6))
    backend.commit(1000.0)
    assert (len(calls.commands), backend.dropped) == (2, 3)
    backend.ban([FwBan("sshd", "192.0.2.99", None)])
    backend.commit(1060.0)  # a minute later: one more
    assert len(calls.commands) == 3
    failing = MailBackend(["root"], runner=RecordingRunner(
        lambda c: Completed(75, "", "queue full")))
    failing.start([JailRule("sshd")])
    failing.ban([FwBan("sshd", "192.0.2.1", None), FwBan("sshd", "192.0.2.2", None)])
    with pytest.raises(BackendError, match=r"^mail: sendmail exited with 75: queue full "
                                           r"\(and 1 more\)$"):
        failing.commit(0.0)


def test_webhook_backend_from_the_registry() -> None:
    assert native_action("webhook", {}, jail="sshd") is None  # no url: the file runs as is
    with http_server() as (url, received):
        spec = native_action("webhook", {"url": url}, jail="sshd")
        assert spec is not None
        backend = create_backend(spec)
        backend.start([spec.rule])
        backend.ban([FwBan("sshd", "2001:db8::7", None, {"fields": {"user": EVIL}})])
        backend.commit(time.time())
        backend.ban([FwBan("sshd", "2001:db8::7", None)])  # no second post
        backend.commit(time.time())
    assert [(r["body"]["ip"], r["body"]["fields"]) for r in received] == [
        ("2001:db8::7", {"user": EVIL})]


WEBHOOK_JAIL = """[sshd]
enabled = true
filter = f
logpath = {log}
action = webhook
"""


def _webhook_tree(tmp_path: Path, definition: str) -> JailConfig:
    """A tree whose action.d/webhook.conf has ``definition`` under [Definition]; its sshd
    jail, as the daemon gets it."""
    (tmp_path / "filter.d").mkdir()
    (tmp_path / "action.d").mkdir()
    (tmp_path / "filter.d" / "f.conf").write_text("[Definition]\nfailregex = ^x <HOST>$\n")
    (tmp_path / "action.d" / "webhook.conf").write_text(f"[Definition]\n{definition}")
    (tmp_path / "jail.conf").write_text(WEBHOOK_JAIL.format(log=tmp_path / "x.log"))
    config = load_jails(tmp_path)
    assert not config.errors, config.errors
    return config.jails[0]


def test_webhook_from_definition_with_headers_typed_fields_and_unbans(tmp_path: Path) -> None:
    with http_server() as (url, received):
        jail = _webhook_tree(tmp_path, f"url = {url}\n"
                                       "headers = Authorization: Bearer s3cret\n"
                                       "          X-Tenant: blue team\n")
        spec = native_action("webhook", jail.actions[0].options, jail="sshd")
        assert spec is not None and spec.kind == "webhook"
        # the daemon names the backend by its settings (status, logs): no credentials there
        (name,) = route_for(jail).backends
        assert name == f"webhook[headers=(hidden), url={url}]"
        assert "s3cret" not in repr(spec)
        backend = create_backend(spec)
        backend.start([spec.rule])
        backend.ban([FwBan("sshd", "192.0.2.7", 1_700_000_600.0, {
            "failures": 3, "matches": ["x 192.0.2.7"],
            "fields": {"user": ("root", "admin"), "port": None, "n": 3}})])
        backend.commit(1_700_000_000.0)
        backend.unban([UnbanEntry("sshd", "192.0.2.7")])
        backend.commit(1_700_000_600.0)
    assert [r["body"]["event"] for r in received] == ["ban", "unban"]
    ban, unban = (r["body"] for r in received)
    assert ban["fields"] == {"user": ["root", "admin"], "port": None, "n": 3}
    assert (ban["ip"], ban["failures"], ban["matches"]) == ("192.0.2.7", 3, ["x 192.0.2.7"])
    assert (unban["jail"], unban["ip"], unban["time"]) == ("sshd", "192.0.2.7", 1_700_000_600.0)
    for request in received:
        assert request["headers"]["Authorization"] == "Bearer s3cret"
        assert request["headers"]["X-Tenant"] == "blue team"


def test_webhook_headers_that_are_not_headers_are_refused(tmp_path: Path) -> None:
    jail = _webhook_tree(tmp_path, "url = http://127.0.0.1:9/hook\n"
                                   "headers = Authorization Bearer x\n")
    spec = native_action("webhook", jail.actions[0].options, jail="sshd")
    assert spec is not None
    with pytest.raises(BackendError, match=r"^webhook: headers: 'Authorization Bearer x' is "
                                           r"not 'Name: value'$"):
        create_backend(spec)


def _mail_whois(tmp_path: Path, action: str = "mail-whois") -> tuple[MailBackend, Path]:
    mailbox = tmp_path / "mailbox"
    sendmail = tmp_path / "sendmail"
    sendmail.write_text(f"#!/bin/sh\ncat >> {mailbox}\n")
    sendmail.chmod(0o755)
    spec = native_action(action, {"dest": "admin@example.org"}, jail="sshd")
    assert spec is not None and spec.kind == "mail"
    backend = create_backend(spec)
    assert isinstance(backend, MailBackend)
    backend.mailer.sendmail = str(sendmail)
    backend.start([spec.rule])
    return backend, mailbox


def _fake_whois(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "whois"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path}/whois-args\n{body}")
    script.chmod(0o755)
    return script


def _mail_body(mailbox: Path) -> str:
    msg = email.message_from_bytes(mailbox.read_bytes(), policy=email.policy.default)
    return msg.get_body().get_content()  # type: ignore[union-attr, no-any-return]


def test_mail_whois_carries_what_whois_printed(tmp_path: Path) -> None:
    backend, mailbox = _mail_whois(tmp_path, "sendmail-whois-lines")
    backend.whois_program = str(_fake_whois(tmp_path, "echo 'netname:  EXAMPLE-NET'\n"))
    backend.ban([FwBan("sshd", "192.0.2.7", None)])
    backend.commit(time.time())
    assert (tmp_path / "whois-args").read_text() == "192.0.2.7\n"  # argv: whois ADDR
    assert "whois 192.0.2.7:\nnetname:  EXAMPLE-NET\n" in _mail_body(mailbox)
    # the plain mail action has no whois part and runs no whois
    (tmp_path / "whois-args").unlink()
    mailbox.unlink()
    plain, _ = _mail_whois(tmp_path, "mail")
    plain.whois_program = backend.whois_program
    plain.ban([FwBan("sshd", "192.0.2.10", None)])
    plain.commit(time.time())
    assert "whois" not in _mail_body(mailbox) and not (tmp_path / "whois-args").exists()


def test_mail_whois_says_plainly_when_there_is_none(tmp_path: Path) -> None:
    backend, mailbox = _mail_whois(tmp_path)
    backend.whois_program = str(tmp_path / "no-such-whois")
    backend.ban([FwBan("sshd", "192.0.2.8", None)])
    backend.commit(time.time())
    assert (f"whois 192.0.2.8:\n(not available: no '{tmp_path}/no-such-whois' program on "
            "this host; install whois to have it here)\n") in _mail_body(mailbox)


def test_mail_whois_that_hangs_is_cut_and_the_mail_still_goes(tmp_path: Path) -> None:
    backend, mailbox = _mail_whois(tmp_path)
    backend.whois_program = str(_fake_whois(tmp_path, "sleep 30\n"))
    backend.whois_timeout = 0.5
    started = time.monotonic()
    backend.ban([FwBan("sshd", "192.0.2.9", None)])
    backend.commit(time.time())
    assert time.monotonic() - started < 10
    body = _mail_body(mailbox)
    assert "whois 192.0.2.9:\n(not available: " in body and "within 0.5s" in body

