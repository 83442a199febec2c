"""Ban durations and failure weights of bantime.increment, against fail2ban's own numbers."""

from __future__ import annotations

import pytest

from warden.core.formula import FormulaError
from warden.core.policy import BanPolicy
from warden.core.spec import Increment

H = 3600.0


@pytest.mark.parametrize(("bantime", "inc", "durations"), [
    # no increment: always bantime
    (600, Increment(), [600, 600, 600, 600]),
    # default formula: 1, 2, 4, 8 times
    (600, Increment(enabled=True), [600, 1200, 2400, 4800]),
    (600, Increment(enabled=True, factor=2), [600, 2400, 4800, 9600]),
    # a factor below 1 would shorten bans: max(bantime, ...) keeps at least bantime
    (600, Increment(enabled=True, factor=0.25), [600, 600, 600, 1200]),
    (600, Increment(enabled=True, maxtime=H), [600, 1200, 2400, H]),
    # multipliers are indexed by the number of earlier bans, the last repeats
    (60, Increment(enabled=True, multipliers=(1, 5, 30)), [60, 300, 1800, 1800]),
    (60, Increment(enabled=True, multipliers=(1, 5, 30), factor=2), [60, 600, 3600, 3600]),
    # with multipliers there is no max(bantime, ...)
    (60, Increment(enabled=True, multipliers=(1, 0.5)), [60, 30, 30, 30]),
    # permanent bans never grow (and stay permanent)
    (-1, Increment(enabled=True), [-1, -1, -1, -1]),
    (-5, Increment(), [-1, -1, -1, -1]),
    # fail2ban's exponential example (factor 2/2.885385 ~ doubling)
    (600, Increment(enabled=True, factor=2.0 / 2.885385,
                    formula="ban.Time * math.exp(float(ban.Count+1)*banFactor)"
                            "/math.exp(1*banFactor)"), [600, 1200, 2400, 4800]),
    # a formula that fails falls back to bantime (fail2ban would lose the ban)
    (600, Increment(enabled=True, formula="ban.Time / (ban.Count - 1)"), [600, 600, 600, 600]),
    (600, Increment(enabled=True, formula="ban.Time / (ban.Count - 1)", maxtime=100),
     [600, 100, 100, 100]),
])
def test_durations(bantime: float, inc: Increment, durations: list[float]) -> None:
    policy = BanPolicy(bantime, inc, random=lambda: 0.5)
    assert [policy.duration(n) for n in range(4)] == pytest.approx(durations, rel=1e-5)


def test_rndtime_is_added_after_maxtime_but_not_to_first_bans() -> None:
    draws = iter([0.0, 0.5, 0.999])
    policy = BanPolicy(600, Increment(enabled=True, maxtime=1000, rndtime=100),
                       random=lambda: next(draws))
    assert policy.duration(0) == 600  # no earlier ban: no random part (as fail2ban)
    assert [policy.duration(1) for _ in range(3)] == pytest.approx([1000, 1050, 1099.9])


@pytest.mark.parametrize(("prior", "weight"), [(0, 1), (1, 2), (2, 3), (3, 5), (4, 9),
                                               (5, 10), (30, 10)])
def test_weights_of_known_offenders(prior: int, weight: int) -> None:
    policy = BanPolicy(600, Increment(enabled=True))
    assert policy.weight(prior, maxretry=10) == weight
    assert BanPolicy(600).weight(prior, maxretry=10) == 1
    assert BanPolicy(-1, Increment(enabled=True)).weight(prior, maxretry=10) == 1


@pytest.mark.parametrize(("bantime", "inc", "longest"), [
    (600, Increment(), 600),
    (-1, Increment(), -1),
    (600, Increment(enabled=True), -1),
    (600, Increment(enabled=True, maxtime=H), H),
    (600, Increment(enabled=True, maxtime=H, rndtime=60), H + 60),
])
def test_max_duration(bantime: float, inc: Increment, longest: float) -> None:
    assert BanPolicy(bantime, inc).max_duration() == longest


def test_bad_formula_is_refused_when_built() -> None:
    with pytest.raises(FormulaError, match="unknown name"):
        BanPolicy(600, Increment(enabled=True, formula="ban.Time * evil"))
