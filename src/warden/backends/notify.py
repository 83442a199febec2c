"""Notifications without a shell: mail through the local sendmail binary, JSON webhooks.

Both run off the detection path. The daemon creates one :class:`Dispatcher`, starts its
:meth:`Dispatcher.run` in its task group and calls :meth:`Dispatcher.submit` (never blocks,
never raises) for each ban; the dispatcher sends in order, each send bounded by a timeout,
each notifier rate-limited by a token bucket (a flood of bans cannot become a flood of mail:
what exceeds the rate is counted in ``dropped`` and reported in one line), and cancelling
``run`` stops at once (a sendmail still running is killed).

- :class:`MailNotifier` builds the message with :mod:`email` and runs
  ``sendmail -i -f SENDER DEST…`` as an argument list with the message on standard input.
- :class:`MailBackend` is the same mail as a ``FirewallBackend`` (what the registry makes of
  ``sendmail-*``/``mail-*`` actions), for a daemon that runs each backend's commits in a lane
  of its own: one mail per new ban, none for restored bans (fail2ban's ``norestored``),
  rate-limited, each ``sendmail`` bounded by a timeout.
- :class:`WebhookBackend` likewise POSTs one JSON notice per new ban and one per unban
  (registry kind ``webhook``: an action file with ``url = …`` in ``[Definition]`` or
  ``[Init]``, or ``webhook[url=…]``; ``headers = Name: value`` lines are sent with each post).
- :class:`WebhookNotifier` POSTs a JSON object (``event``, ``jail``, ``ip``, ``time``,
  ``until``, ``failures``, ``matches``, ``fields``) with :mod:`urllib`; the blocking call runs
  in a worker thread under ``asyncio.wait_for`` so the event loop never waits on the network.
  Field values keep their JSON types: a missing one is ``null``, a multi-valued one a list.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import email.utils
import json
import logging
import os
import shutil
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from warden.backends.base import (
    BanEntry,
    BaseBackend,
    JailRule,
    Network,
    Reconciled,
    UnbanEntry,
)
from warden.backends.runner import Command, Runner, SubprocessRunner
from warden.errors import BackendError

__all__ = [
    "Dispatcher",
    "MailBackend",
    "MailNotifier",
    "Notice",
    "Notifier",
    "WebhookBackend",
    "WebhookNotifier",
    "parse_headers",
]

_log = logging.getLogger("warden.notify")
_WHOIS_LIMIT = 32768  # characters of whois output kept in a mail


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell the administrator: ``event`` is ``ban``, ``unban``, ``start``…"""

    event: str
    jail: str
    ip: str = ""
    time: float = 0.0
    until: float | None = None
    failures: int = 0
    matches: tuple[str, ...] = ()
    fields: Mapping[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        """The JSON object a webhook receives."""
        return {"event": self.event, "jail": self.jail, "ip": self.ip, "time": self.time,
                "until": self.until, "failures": self.failures, "matches": list(self.matches),
                "fields": {str(k): _json_value(v) for k, v in self.fields.items()}}


def _json_value(value: object) -> object:
    # a capture group that did not take part is None, a repeated one a tuple: keep their
    # shape (null, a list) instead of Python's spelling of them
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return str(value)


def parse_headers(text: str) -> dict[str, str]:
    """A webhook's ``headers`` option, one ``Name: value`` a line, as a mapping.

    Raises :class:`BackendError` naming a line that is not a header.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name or any(c.isspace() or not c.isprintable() for c in name):
            raise BackendError(f"webhook: headers: {line.strip()!r} is not 'Name: value'")
        found[name] = value.strip()
    return found


class Notifier(Protocol):
    """Sends one notice; raises :class:`BackendError` on failure."""

    name: str

    async def send(self, notice: Notice) -> None:
        """Deliver ``notice``."""


class MailNotifier:
    """Mail through the local MTA's ``sendmail`` interface (no shell, message on stdin)."""

    name = "mail"

    def __init__(
        self, dest: Sequence[str], *, sender: str = "warden", sendername: str = "warden",
        sendmail: str = "sendmail", hostname: str | None = None,
    ) -> None:
        if not dest:
            raise BackendError("mail: no recipient (dest)")
        for address in (*dest, sender):
            if not address or address.startswith("-") or any(c in address for c in "\r\n"):
                raise BackendError(f"mail: invalid address {address!r}")
        self.dest = tuple(dest)
        self.sender = sender
        self.sendername = sendername
        self.sendmail = sendmail
        self.hostname = hostname or socket.getfqdn()

    def message(self, notice: Notice, whois: str | None = None) -> email.message.EmailMessage:
        """The mail for ``notice``; ``whois``: what whois said of the address (or why it
        said nothing), for the ``*-whois*`` actions."""
        msg = email.message.EmailMessage()
        what = {"ban": f"banned {notice.ip}", "unban": f"unbanned {notice.ip}"}.get(
            notice.event, notice.event)
        msg["Subject"] = f"[warden] {notice.jail}: {what} on {self.hostname}"
        msg["From"] = email.utils.formataddr((self.sendername, self.sender))
        msg["To"] = ", ".join(self.dest)
        msg["Date"] = email.utils.formatdate(notice.time or None, localtime=True)
        body = [f"Jail {notice.jail}: {what}."]
        if notice.event == "ban":
            until = ("permanently" if notice.until is None
                     else "until " + email.utils.formatdate(notice.until, localtime=True))
            body.append(f"{notice.ip} is banned {until} after {notice.failures} failures.")
        if notice.matches:
            body += ["", "Matches:", *notice.matches]
        if whois is not None:
            body += ["", f"whois {notice.ip}:", whois]
        msg.set_content("\n".join(body) + "\n")
        return msg

    async def send(self, notice: Notice) -> None:
        """Run sendmail with the message on stdin; killed if cancelled."""
        data = self.message(notice).as_bytes()
        try:
            proc = await asyncio.create_subprocess_exec(
                self.sendmail, "-i", "-f", self.sender, "--", *self.dest,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except FileNotFoundError as exc:
            raise BackendError(f"mail: {self.sendmail!r} not found (install an MTA)") from exc
        try:
            _, err = await proc.communicate(data)
        except BaseException:
            # the whole process group: a child of sendmail holding the pipes open would
            # otherwise keep us waiting
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.shield(proc.wait())
            raise
        if proc.returncode != 0:
            why = err.decode(errors="replace").strip().splitlines()
            raise BackendError(
                f"mail: sendmail exited with {proc.returncode}: {why[-1] if why else ''}".rstrip(
                    ": "))


class WebhookNotifier:
    """POST the notice as JSON to ``url`` (``http://`` or ``https://``)."""

    name = "webhook"

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None,
                 timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise BackendError(f"webhook: url must start with http:// or https://: {url!r}")
        self.url = url
        self.headers = {"Content-Type": "application/json", "User-Agent": "warden",
                        **(headers or {})}
        self.timeout = timeout

    def post(self, body: bytes) -> int:
        """POST ``body`` (JSON) synchronously; return the HTTP status."""
        request = urllib.request.Request(self.url, body, self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            raise BackendError(f"webhook: {self.url} answered {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendError(f"webhook: cannot reach {self.url}: {reason}") from exc

    async def send(self, notice: Notice) -> None:
        """POST ``notice``; the HTTP exchange runs in a worker thread."""
        body = json.dumps(notice.as_json()).encode()
        await asyncio.to_thread(self.post, body)


@dataclass
class _Bucket:
    rate: float  # tokens per second
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Dispatcher:
    """Sends notices to notifiers in the background, rate-limited and time-bounded.

    ``per_minute`` and ``burst`` shape each notifier's token bucket; ``timeout`` bounds one
    send; ``queue_size`` bounds what waits (beyond it notices are dropped and counted);
    ``clock`` is injectable for tests; ``on_error(message)`` reports failures (default: the
    ``warden.notify`` logger).
    """

    def __init__(
        self, notifiers: Sequence[Notifier], *, per_minute: float = 10.0, burst: int = 5,
        timeout: float = 30.0, queue_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.notifiers = list(notifiers)
        self.timeout = timeout
        self.clock = clock
        self.on_error = on_error or _log.warning
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        now = clock()
        self._buckets = [_Bucket(per_minute / 60.0, burst, burst, now) for _ in notifiers]
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(queue_size)

    def submit(self, notice: Notice) -> None:
        """Queue ``notice`` for every notifier; never blocks (a full queue drops it)."""
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.dropped += len(self.notifiers)

    async def drain(self) -> None:
        """Wait until every queued notice was handled (for shutdown and tests)."""
        await self._queue.join()

    async def run(self) -> None:
        """Send queued notices until cancelled."""
        while True:
            notice = await self._queue.get()
            try:
                for notifier, bucket in zip(self.notifiers, self._buckets, strict=True):
                    if not bucket.take(self.clock()):
                        self.dropped += 1
                        if self.dropped == 1 or self.dropped % 100 == 0:
                            self.on_error(f"{notifier.name}: rate limit reached, "
                                          f"{self.dropped} notification(s) dropped so far")
                        continue
                    try:
                        await asyncio.wait_for(notifier.send(notice), self.timeout)
                        self.sent += 1
                    except TimeoutError:
                        self.failed += 1
                        self.on_error(f"{notifier.name}: no answer within {self.timeout:g}s "
                                      f"for {notice.event} {notice.jail} {notice.ip}")
                    except BackendError as exc:
                        self.failed += 1
                        self.on_error(str(exc))
            finally:
                self._queue.task_done()


class _NoticeBackend(BaseBackend):
    """A backend that tells someone about each new ban (rate-limited, synchronous), and
    about each unban where ``unbans`` is set."""

    unbans = False

    def __init__(self, per_minute: float, burst: int) -> None:
        super().__init__()
        self.sent = 0
        self.dropped = 0
        self._bucket: _Bucket | None = None
        self._rate = (per_minute / 60.0, float(burst))
        self._banned: dict[str, set[Network]] = {}

    def _start(self, rules: list[JailRule]) -> None:
        for rule in rules:
            self._banned.setdefault(rule.jail, set())

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        if self._bucket is None:
            self._bucket = _Bucket(self._rate[0], self._rate[1], self._rate[1], now)
        notices: list[Notice] = []
        for gone in unbans:
            if gone.network in self._banned[gone.jail] and self.unbans:
                notices.append(Notice("unban", gone.jail, _address(gone.network), now))
            self._banned[gone.jail].discard(gone.network)
        for entry in bans:
            known = entry.network in self._banned[entry.jail]
            self._banned[entry.jail].add(entry.network)
            if not known and not entry.info.get("restored"):
                notices.append(_notice(entry, now))
        errors: list[str] = []
        for notice in notices:
            if not self._bucket.take(now):
                self.dropped += 1
                continue
            try:
                self._send(notice)
                self.sent += 1
            except BackendError as exc:
                errors.append(str(exc))
        if errors:
            raise BackendError(errors[0] + (f" (and {len(errors) - 1} more)"
                                            if len(errors) > 1 else ""))

    def _send(self, notice: Notice) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def banned(self, jail: str) -> set[Network]:
        """The addresses mailed about and not unbanned since (nothing to ask a kernel)."""
        return set(self._banned.get(jail, ()))

    def reconcile(self, active: Iterable[BanEntry], now: float,
                  jails: Collection[str] | None = None) -> Reconciled:
        """Remember the active bans without mailing (they were mailed when they began)."""
        for entry in active:
            if entry.jail in self._banned:
                self._banned[entry.jail].add(entry.network)
        return Reconciled()

    def _flush(self, jail: str) -> None:
        self._banned[jail].clear()

    def _stop(self, remove: bool) -> None:
        """Nothing to release."""


def _address(net: Network) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _notice(entry: BanEntry, now: float) -> Notice:
    info = entry.info
    matches = info.get("matches", ())
    fields = info.get("fields", {})
    return Notice(
        "ban", entry.jail, _address(entry.network), now, entry.until,
        int(str(info.get("failures", 0)) or 0),
        tuple(str(m) for m in matches) if isinstance(matches, list | tuple) else (),
        {str(k): v for k, v in fields.items()} if isinstance(fields, Mapping) else {})


class MailBackend(_NoticeBackend):
    """Mail for each new ban, through ``sendmail`` (argv, message on stdin), synchronously.

    ``per_minute``/``burst`` bound the mail rate (beyond it mails are dropped and counted in
    ``dropped``); ``timeout`` bounds one sendmail run. With ``whois`` (the ``*-whois*``
    actions) the mail carries what ``whois ADDR`` printed, run as an argument list and cut
    after ``whois_timeout`` seconds; without a whois program the mail says so.
    """

    name = "mail"

    def __init__(
        self, dest: Sequence[str], *, sender: str = "warden", sendername: str = "warden",
        sendmail: str = "sendmail", runner: Runner | None = None, per_minute: float = 10.0,
        burst: int = 5, timeout: float = 30.0, hostname: str | None = None,
        whois: bool = False, whois_program: str = "whois", whois_timeout: float = 10.0,
    ) -> None:
        super().__init__(per_minute, burst)
        self.mailer = MailNotifier(dest, sender=sender, sendername=sendername,
                                   sendmail=sendmail, hostname=hostname)
        self.runner = runner or SubprocessRunner(timeout=timeout)
        self.timeout = timeout
        self.whois = whois
        self.whois_program = whois_program
        self.whois_timeout = whois_timeout

    def whois_text(self, address: str) -> str:
        """What ``whois ADDRESS`` printed (bounded), or one line saying why there is none."""
        if shutil.which(self.whois_program) is None:
            return (f"(not available: no {self.whois_program!r} program on this host; "
                    "install whois to have it here)")
        try:
            done = self.runner(Command((self.whois_program, address),
                                       timeout=self.whois_timeout))
        except BackendError as exc:
            return f"(not available: {exc})"
        text = done.stdout.strip()
        if done.returncode != 0 and not text:
            why = done.stderr.strip().splitlines()
            return f"(not available: whois exited with {done.returncode}" + (
                f": {why[-1]})" if why else ")")
        if len(text) > _WHOIS_LIMIT:  # an answer is a few KiB; a mail is no place for more
            text = text[:_WHOIS_LIMIT] + "\n[... cut]"
        return text

    def _send(self, notice: Notice) -> None:
        mailer = self.mailer
        whois = self.whois_text(notice.ip) if self.whois and notice.ip else None
        done = self.runner(Command(
            (mailer.sendmail, "-i", "-f", mailer.sender, "--", *mailer.dest),
            mailer.message(notice, whois).as_string(), timeout=self.timeout))
        if done.returncode != 0:
            why = done.stderr.strip().splitlines()
            raise BackendError(f"mail: sendmail exited with {done.returncode}"
                               + (f": {why[-1]}" if why else ""))


class WebhookBackend(_NoticeBackend):
    """POST one JSON notice per new ban and per unban to ``url`` (synchronously, bounded by
    ``timeout``), with ``headers``."""

    name = "webhook"
    unbans = True

    def __init__(self, url: str, *, per_minute: float = 10.0, burst: int = 5,
                 timeout: float = 10.0, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(per_minute, burst)
        self.hook = WebhookNotifier(url, headers=headers, timeout=timeout)

    def _send(self, notice: Notice) -> None:
        self.hook.post(json.dumps(notice.as_json()).encode())
