"""Why an address is banned, as data: ``warden explain`` (pure).

- :func:`bantime_steps`: the ban time of an address banned ``prior`` times before, with the
  arithmetic shown (fail2ban's ``bantime.increment`` rules, as :class:`BanPolicy` applies
  them: multipliers, else the formula, then ``maxtime``, then up to ``rndtime`` random);
- :func:`matched_lines`: which filter regex matched each stored log line, and its time (the
  lines run through fresh copies of the jail's filters: nothing of the jail changes);
- :func:`ignore_checks`: what ``ignoreip``, ``ignoreself`` and ``ignorecommand`` say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from warden.core.addr import Network, contains, format_target, parse_network
from warden.core.filter import Filter
from warden.core.policy import DEFAULT_FORMULA, BanPolicy

__all__ = ["BantimeSteps", "IgnoreCheck", "LineMatch", "bantime_steps", "ignore_checks",
           "matched_lines"]


@dataclass(frozen=True, slots=True)
class BantimeSteps:
    """How a ban time is computed: ``rule`` names the rule applied, ``steps`` show the
    arithmetic in order, ``seconds`` is the result without the random part (``-1``: for
    ever), ``random`` the most ``rndtime`` adds."""

    rule: str
    steps: tuple[str, ...]
    seconds: float
    random: float = 0.0


@dataclass(frozen=True, slots=True)
class LineMatch:
    """One stored log line: its time (None if no date was found), which filter of the jail
    (``filter``) and which of its failregexes (``regex``, from 0, and its text) matched;
    ``regex`` is None when none matches it alone (a line of a multi-line failure)."""

    line: str
    time: float | None
    filter: int
    regex: int | None
    pattern: str


@dataclass(frozen=True, slots=True)
class IgnoreCheck:
    """One ignore rule checked for the address: ``rule`` (``ignoreip``, ``ignoreself``,
    ``ignorecommand``), whether it ignores the address (None: not decided here, the
    command runs per failure), and what was found."""

    rule: str
    ignores: bool | None
    detail: str


def _secs(value: float) -> str:
    return f"{value:g}"


def bantime_steps(policy: BanPolicy, prior: int) -> BantimeSteps:
    """The ban time ``policy`` gives an address banned ``prior`` times before (the same value
    as :meth:`BanPolicy.duration` without its random part)."""
    base = policy.bantime
    if base < 0:
        return BantimeSteps("permanent", ("bantime = -1: the ban never ends",), -1.0)
    if not policy.increments:
        return BantimeSteps("bantime", (f"bantime = {_secs(base)}",), base)
    inc = policy.increment
    if prior <= 0:
        return BantimeSteps("first ban", (
            f"no earlier ban: bantime = {_secs(base)} (bantime.increment starts with the "
            "second ban)",), base)
    steps: list[str] = []
    if inc.multipliers:
        pick = min(prior, len(inc.multipliers) - 1)
        mult = inc.multipliers[pick]
        value = base * inc.factor * mult
        rule = "multipliers"
        steps.append(f"bantime * factor * multipliers[{pick}] = {_secs(base)} * "
                     f"{_secs(inc.factor)} * {_secs(mult)} = {_secs(value)}")
    else:
        formula = inc.formula or DEFAULT_FORMULA
        rule = "formula"
        # the policy's own evaluation, without the cap and the random part (shown below)
        twin = BanPolicy(base, replace(inc, maxtime=None, rndtime=None))
        value = twin.duration(prior)
        if formula == DEFAULT_FORMULA:
            shift = min(prior, 20)
            steps.append(f"bantime * 2**min(count, 20) * factor = {_secs(base)} * 2**{shift} "
                         f"* {_secs(inc.factor)} = {_secs(base * (1 << shift) * inc.factor)}")
        else:
            steps.append(f"{formula} with ban.Time = {_secs(base)}, ban.Count = {prior}, "
                         f"banFactor = {_secs(inc.factor)}")
        steps.append(f"at least bantime: max({_secs(base)}, ...) = {_secs(value)}")
    if inc.maxtime is not None and value > inc.maxtime:
        steps.append(f"capped by bantime.maxtime: min({_secs(value)}, {_secs(inc.maxtime)}) "
                     f"= {_secs(inc.maxtime)}")
        value = inc.maxtime
    random = inc.rndtime or 0.0
    if random:
        steps.append(f"plus a random part of up to bantime.rndtime = {_secs(random)}")
    return BantimeSteps(rule, tuple(steps), value, random)


def matched_lines(filters: Sequence[Filter], lines: Sequence[str], now: float
                  ) -> list[LineMatch]:
    """Which of ``filters`` (fresh copies: the jail's state is not touched) and which of its
    failregexes matches each of ``lines``, in order; ``now`` completes dates without a
    year (the ban's time)."""
    copies = [Filter(f.definition, journal=f.journal, max_line_length=f.max_line_length,
                     matcher=f.matcher) for f in filters]
    out: list[LineMatch] = []
    for line in lines:
        found: LineMatch | None = None
        for index, flt in enumerate(copies):
            result = flt.process(line, now)
            dates = flt.dates
            date = dates.match(flt.clean(line), now) if dates is not None else None
            at = date.time if date is not None else None
            if result.failregex is not None:
                rx = flt.failregexes[result.failregex]
                found = LineMatch(line, at, index, result.failregex, rx.source)
                break
            if found is None:
                found = LineMatch(line, at, index, None, "")
        if found is not None:
            out.append(found)
    return out


def ignore_checks(addr: str, ignoreip: Sequence[Network | str], *, ignoreself: bool,
                  self_addresses: Sequence[Network], ignorecommand: str | None
                  ) -> list[IgnoreCheck]:
    """What each ignore rule of a jail says about ``addr``. ``ignoreip`` are the jail's
    resolved entries without the host's own addresses (those are ``self_addresses``)."""
    net = parse_network(addr)
    checks: list[IgnoreCheck] = []

    def covering(entries: Sequence[Network | str]) -> list[str]:
        hits = []
        for entry in entries:
            if isinstance(entry, str):
                if entry == addr:
                    hits.append(entry)
            elif net is not None and contains(entry, net):
                hits.append(format_target(entry))
        return hits

    hits = covering(ignoreip)
    checks.append(IgnoreCheck(
        "ignoreip", bool(hits),
        f"matches {', '.join(hits)}" if hits else
        f"no entry covers it ({len(ignoreip)} entries)" if ignoreip else "not set"))
    own = covering(self_addresses) if ignoreself else []
    checks.append(IgnoreCheck(
        "ignoreself", bool(own),
        "off" if not ignoreself else
        f"is this host's address ({', '.join(own)})" if own else "not this host's address"))
    checks.append(IgnoreCheck(
        "ignorecommand", None if ignorecommand else False,
        f"runs for each failure: {ignorecommand}" if ignorecommand else "not set"))
    return checks
