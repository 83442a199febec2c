"""Ban durations side by side with fail2ban 1.0.2's own ``bantime.*`` code (its Jail's
``setBanTimeExtra`` builds the ``evformula`` its observer calls), run by /usr/bin/python3."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from warden.core.duration import parse_duration
from warden.core.policy import BanPolicy
from warden.core.spec import Increment

FAIL2BAN = "/usr/lib/python3/dist-packages/fail2ban"

# (bantime, {option: text as in jail.conf}) -- options fail2ban parses itself
CASES: list[tuple[float, dict[str, str]]] = [
    (600, {}),
    (600, {"factor": "2"}),
    (600, {"factor": "0.25"}),
    (600, {"maxtime": "3600"}),
    (600, {"maxtime": "1d", "factor": "3"}),
    (60, {"multipliers": "1 5 30 60 300 720 1440 2880"}),
    (600, {"multipliers": "1 2 4 8 16 32 64", "factor": "2", "maxtime": "86400"}),
    (600, {"formula": "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)",
           "factor": "0.693148"}),
    (600, {"formula": "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor"}),
    (300, {"formula": "max(ban.Time, min(ban.Time * ban.Count * 3, 7200))"}),
    (600, {"rndtime": "100", "maxtime": "5000"}),
]
COUNTS = [1, 2, 3, 4, 7, 10, 19, 20, 21, 40]

SCRIPT = r"""
import json, sys
import fail2ban.server.jail as fjail
from fail2ban.server.observer import ObserverThread
fjail.random.random = lambda: 0.25
class Fake:
    _banExtra = {}
    database = None
out = []
for bantime, options, counts in json.loads(sys.stdin.read()):
    fake = Fake(); fake._banExtra = {}
    fjail.Jail.setBanTimeExtra(fake, "increment", "true")
    for name, value in options.items():
        fjail.Jail.setBanTimeExtra(fake, name, value)
    ev = fake._banExtra["evformula"]
    out.append([ev(ObserverThread.BanTimeIncr(bantime, n)) for n in counts])
print(json.dumps(out))
"""


@pytest.mark.skipif(not os.path.isdir(FAIL2BAN), reason="fail2ban not installed")
def test_durations_equal_fail2ban() -> None:
    done = subprocess.run(["/usr/bin/python3", "-c", SCRIPT], check=True, capture_output=True,
                          text=True, input=json.dumps([(b, o, COUNTS) for b, o in CASES]))
    expected = json.loads(done.stdout)
    for (bantime, options), theirs in zip(CASES, expected, strict=True):
        inc = Increment(
            enabled=True,
            factor=float(options.get("factor", "1")),
            formula=options.get("formula"),
            multipliers=tuple(float(x) for x in options.get("multipliers", "").split()),
            maxtime=parse_duration(options["maxtime"]) if "maxtime" in options else None,
            rndtime=parse_duration(options["rndtime"]) if "rndtime" in options else None,
        )
        policy = BanPolicy(bantime, inc, random=lambda: 0.25)
        ours = [policy.duration(n) for n in COUNTS]
        assert ours == pytest.approx(theirs, rel=1e-9), (bantime, options)
