"""Failure counting side by side with fail2ban 1.0.2's FailManager (run by /usr/bin/python3).

fail2ban estimates the count once an address' first failure leaves the window (see
``warden.core.tracker``); where no estimate is involved (pauses either short or longer than
findtime) both must give the same bans: same addresses, same times, same failure counts, same
matches. One case shows the deliberate difference.
"""

from __future__ import annotations

import json
import os
import random
import subprocess

import pytest

from warden.core.tracker import Tracker

FAIL2BAN = "/usr/lib/python3/dist-packages/fail2ban"
pytestmark = pytest.mark.skipif(not os.path.isdir(FAIL2BAN), reason="fail2ban not installed")

SCRIPT = r"""
import json, sys
from fail2ban.server.failmanager import FailManager, FailManagerEmpty
from fail2ban.server.ticket import FailTicket
maxretry, findtime, maxmatches, events = json.loads(sys.stdin.read())
fm = FailManager()
fm.setMaxRetry(maxretry); fm.setMaxTime(findtime); fm.maxMatches = maxmatches
out = []
for ip, t in events:
    fm.cleanup(t)  # its service task, as if run just before (failures older than findtime go)
    n = fm.addFailure(FailTicket(ip, t, data={"matches": [f"{ip} at {t}"]}))
    if n >= maxretry:
        ticket = fm.toBan(ip)
        out.append([str(ticket.getID()), ticket.getTime(), ticket.getRetry(),
                    ticket.getMatches()])
print(json.dumps(out))
"""


def fail2ban(maxretry: int, findtime: float, maxmatches: int,
             events: list[tuple[str, float]]) -> list[list[object]]:
    done = subprocess.run(["/usr/bin/python3", "-c", SCRIPT], check=True, capture_output=True,
                          text=True, input=json.dumps([maxretry, findtime, maxmatches, events]))
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def warden(maxretry: int, findtime: float, maxmatches: int,
           events: list[tuple[str, float]]) -> list[list[object]]:
    tracker = Tracker(maxretry, findtime, maxmatches)
    out: list[list[object]] = []
    for ip, t in events:
        tracker.expire(t)
        ticket = tracker.add(ip, t, (f"{ip} at {t}",))
        if ticket is not None:
            out.append([ip, ticket.time, ticket.failures, list(ticket.matches)])
    return out


def _events(seed: int, maxretry: int, findtime: float) -> list[tuple[str, float]]:
    """Failures of 12 addresses in time order; each address pauses either briefly (its
    maxretry failures fit in findtime) or longer than findtime."""
    rng = random.Random(seed)
    short = findtime / maxretry / 2
    clocks = {f"192.0.2.{i}": float(rng.randrange(100)) for i in range(12)}
    events: list[tuple[str, float]] = []
    for _ in range(400):
        ip = rng.choice(sorted(clocks))
        events.append((ip, clocks[ip]))
        pause = rng.uniform(0, short) if rng.random() < 0.85 else rng.uniform(
            findtime + 1, 2 * findtime)
        clocks[ip] += round(pause)
    events.sort(key=lambda e: e[1])
    return events


@pytest.mark.parametrize(("seed", "maxretry", "findtime", "maxmatches"), [
    (1, 3, 600.0, 3), (2, 5, 600.0, 5), (3, 2, 60.0, 1), (4, 4, 3600.0, 2), (5, 1, 600.0, 1),
])
def test_same_bans_as_fail2ban(seed: int, maxretry: int, findtime: float,
                               maxmatches: int) -> None:
    events = _events(seed, maxretry, findtime)
    theirs = fail2ban(maxretry, findtime, maxmatches, events)
    assert len(theirs) > 5
    assert warden(maxretry, findtime, maxmatches, events) == theirs


def test_where_fail2ban_estimates_warden_counts() -> None:
    # 3 failures at 0, 400 and 700 s: only two lie within 600 s of the newest. fail2ban
    # scales its count by the rate (2 / 700 s * 600 s = 1.7 -> 2, +1 = 3) and bans.
    events = [("192.0.2.1", 0.0), ("192.0.2.1", 400.0), ("192.0.2.1", 700.0)]
    assert [ban[2] for ban in fail2ban(3, 600.0, 3, events)] == [3]
    assert warden(3, 600.0, 3, events) == []
