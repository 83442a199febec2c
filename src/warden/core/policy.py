"""How long a ban lasts: ``bantime`` and the ``bantime.increment`` rules of fail2ban.

For an address banned ``prior`` times before (in this jail, or in all jails with
``overalljails``), fail2ban 1.0.2's observer computes the new ban time as:

- no increment, a permanent ``bantime``, or no earlier ban: ``bantime`` itself (no random
  part either);
- with ``multipliers``: ``bantime * factor * multipliers[prior]`` (the last one repeats);
- else with the formula: ``max(bantime, formula(bantime, prior, factor))``, the default formula
  doubling per earlier ban (``bantime * 2**min(prior, 20) * factor``);
- then ``min(result, maxtime)``, then ``+ random() * rndtime``.

A known offender's failures also count more while it is watched again: each counts
``min(2**prior / 2 + 1, maxretry)`` (fail2ban: 2, 3, 5, 9, ... for 1, 2, 3, 4 earlier bans).

Where fail2ban would crash on a bad formula value (division by zero, overflow) and lose the
ban, warden uses the jail's ``bantime`` (capped by ``maxtime``).
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

from warden.core.formula import Formula, FormulaError, compile_formula
from warden.core.spec import Increment

__all__ = ["DEFAULT_FORMULA", "BanPolicy"]

DEFAULT_FORMULA = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor"
_DEFAULT = compile_formula(DEFAULT_FORMULA)
_NO_INCREMENT = Increment()


class BanPolicy:
    """Ban durations of one jail. ``random`` returns a float in [0, 1) (injectable for tests)."""

    __slots__ = ("_formula", "_random", "bantime", "increment")

    def __init__(self, bantime: float, increment: Increment = _NO_INCREMENT,
                 random: Callable[[], float] = _random.random) -> None:
        """Raise :class:`FormulaError` if ``increment.formula`` is not a valid formula."""
        self.bantime = -1.0 if bantime < 0 else float(bantime)
        self.increment = increment
        self._random = random
        self._formula: Formula = (compile_formula(increment.formula)
                                  if increment.formula else _DEFAULT)

    @property
    def increments(self) -> bool:
        """True if ban times grow with earlier bans."""
        return self.increment.enabled and self.bantime > 0

    def duration(self, prior: int) -> float:
        """Seconds the next ban lasts (``-1``: forever) for an address banned ``prior`` times."""
        base = self.bantime
        if not self.increments or prior <= 0:
            return base
        inc = self.increment
        if inc.multipliers:
            multipliers = inc.multipliers
            value = base * inc.factor * multipliers[min(prior, len(multipliers) - 1)]
        else:
            try:
                value = max(base, self._formula(base, prior, inc.factor))
            except FormulaError:
                value = base
        if inc.maxtime is not None:
            value = min(value, inc.maxtime)
        if inc.rndtime is not None:
            value += self._random() * inc.rndtime
        return value

    def weight(self, prior: int, maxretry: int) -> int:
        """How many failures one failure of an address banned ``prior`` times counts for."""
        if not self.increments or prior <= 0:
            return 1
        return min((1 << min(prior, 20)) // 2 + 1, maxretry)

    def max_duration(self) -> float:
        """The longest ban this jail gives now (``-1``: unbounded or forever); restored bans
        are cut to it, as fail2ban does after a configuration change."""
        if self.increments:
            maxtime = self.increment.maxtime
            if maxtime is None:
                return -1.0
            return maxtime + (self.increment.rndtime or 0.0)
        return self.bantime
