"""Crafted logs and filters for the tests of ``warden regex``'s counting and chunked runs.

The logs are built to cross chunk boundaries in every way that carries state from line to line:
``<F-MLFID>`` sessions interleaved over many lines (more than fail2ban's 100 kept sessions),
``<F-NOFAIL>`` lines whose session later turns into a failure, lines without a date right after
dated ones (the last-date rule), a second date format that makes the detector move templates,
comments, blank lines, CRLF ends, invalid UTF-8 and over-long lines.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

# 2026-01-01 00:00:00 local time: the logs' year-less dates fall in that year.
START = time.mktime((2026, 1, 1, 0, 0, 0, 0, 1, -1))

SSHD_LIKE = r"""
[DEFAULT]
_rest = .*rhost=<HOST>(?:\s+user=<F-USER>\S*</F-USER>)?$
_for = for <F-USER>\S+</F-USER> from <HOST>

[Definition]
prefregex = ^\s*<F-MLFID>\S+ sshd\[\d+\]: </F-MLFID><F-CONTENT>.+</F-CONTENT>$
failregex = ^Failed password for (?:invalid user )?<F-USER>\S+</F-USER> from <HOST> port \d+
            ^<F-NOFAIL>pam_unix\(sshd:auth\): authentication failure;</F-NOFAIL> %(_rest)s
            ^<F-NOFAIL><F-MLFFORGET>Connection closed</F-MLFFORGET></F-NOFAIL> by <HOST>
            ^<F-MLFFORGET><F-MLFGAINED>Accepted \w+</F-MLFGAINED></F-MLFFORGET> %(_for)s
            ^Invalid user <F-USER>\S+</F-USER> from <HOST>
            ^Attempt from (?:<HOST>|nowhere)
            ^Bye from <F-ID>\w+</F-ID>
ignoreregex = from 192\.0\.2\.99 port
"""

# With as many ignoreregexes as failregexes - 2 they run after a failregex matched, and the
# filter takes the fast counting path (core.batch._tally_single); SSHD_LIKE takes the generic one.
SSHD_FAST = SSHD_LIKE.replace(
    "ignoreregex = from 192\\.0\\.2\\.99 port",
    "ignoreregex = from 192\\.0\\.2\\.99 port\n            ^Bye from alice"
    + "".join(f"\n            never{i}" for i in range(3)),
)
assert SSHD_FAST != SSHD_LIKE

MULTI_LINE = r"""
[Definition]
failregex = ^.*user <F-USER>\S+</F-USER> starts\n(?:.*\n)*?.*refused <HOST>$
maxlines = 4
"""


def write_filter(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.conf"
    path.write_text(text, encoding="utf-8")
    return path


def _stamp(t: float, iso: bool) -> str:
    lt = time.localtime(t)
    if iso:
        return time.strftime("%Y-%m-%d %H:%M:%S", lt)
    return time.strftime("%b %e %H:%M:%S", lt)


def sshd_log(seed: int, count: int) -> bytes:
    """A log of ``count`` lines in the shape SSHD_LIKE reads."""
    rnd = random.Random(seed)
    out: list[bytes] = []
    t = START
    pids = list(range(100, 100 + 150))  # more live sessions than fail2ban keeps
    for i in range(count):
        t += rnd.choice((0, 0, 1, 2))
        pid = rnd.choice(pids[: rnd.choice((5, 40, 150))])
        ip = rnd.choice(("192.0.2.1", "192.0.2.2", "192.0.2.99", "2001:db8::7",
                         "198.51.100.3"))
        user = rnd.choice(("root", "bob", "alice", "x"))
        kind = rnd.randrange(20)
        msg = [
            f"Failed password for {user} from {ip} port {rnd.randrange(1, 65535)} ssh2",
            f"pam_unix(sshd:auth): authentication failure; logname= uid=0 rhost={ip}  user={user}",
            f"Connection closed by {ip} port 22 [preauth]",
            f"Accepted password for {user} from {ip} port 22 ssh2",
            f"Invalid user {user} from {ip} port 1",
            "Attempt from nowhere",
            f"Bye from {user}",
            "Server listening on 0.0.0.0 port 22.",
        ][min(kind, 7)]
        # A second date format early on (the detector then moves templates, which keeps
        # workers from being taken: see test_chunks).
        stamp = _stamp(t, iso=i < count // 10 and rnd.random() < 0.05)
        head = f"{stamp} host sshd[{pid}]: "
        roll = rnd.random()
        if roll < 0.03:
            line = f"host sshd[{pid}]: {msg}"  # no date: the last one may be reused
        elif roll < 0.05:
            line = f"host CRON[{pid}]: session opened"
        elif roll < 0.06:
            line = "# a comment"
        elif roll < 0.07:
            line = ""
        else:
            line = head + msg
        data = line.encode()
        if rnd.random() < 0.01:
            data += b" \xff\xfe bad utf-8"
        if rnd.random() < 0.005:
            data += b" " + b"y" * 9000
        out.append(data + (b"\r\n" if rnd.random() < 0.02 else b"\n"))
    if out and rnd.random() < 0.5:
        out[-1] = out[-1].rstrip(b"\r\n")  # no final newline
    return b"".join(out)


def multi_log(seed: int, count: int) -> bytes:
    """A log for MULTI_LINE: failures spread over up to four lines."""
    rnd = random.Random(seed)
    t = START
    out = []
    for i in range(count):
        t += rnd.choice((0, 1))
        body = rnd.choice((f"user u{i % 7} starts", "noise", f"refused 192.0.2.{i % 9}",
                           "other noise"))
        out.append(f"{_stamp(t, iso=False)} h p: {body}\n")
    return "".join(out).encode()
