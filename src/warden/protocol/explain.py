"""``warden explain ADDR``: why an address is banned, or how far it is from a ban.

One :class:`ExplainRequest` names the address; the :class:`ExplainReply` has one
:class:`JailExplanation` per jail that bans it, counts failures of it, or kept matched lines
of an earlier ban of it (in the store, so they survive restarts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["ExplainReply", "ExplainRequest", "IgnoreRuleInfo", "JailExplanation",
           "MatchedLineInfo"]


@dataclass(frozen=True, slots=True)
class ExplainRequest:
    """Explain ``addr`` (an address or network, as ``banned`` takes it)."""

    kind: ClassVar[str] = "explain"
    addr: str


@dataclass(frozen=True, slots=True)
class MatchedLineInfo:
    """A log line that counted: its time (None: no date found in it), the jail's filter
    (``filter``, from 0) and failregex (``regex``, from 0; None when it matched only as part
    of a multi-line failure) that matched it, and that regex's text."""

    line: str
    time: float | None
    filter: int
    regex: int | None
    pattern: str


@dataclass(frozen=True, slots=True)
class IgnoreRuleInfo:
    """One ignore rule: ``ignores`` True/False, or None when it is decided per failure (an
    ``ignorecommand``); ``detail`` says what was found."""

    rule: str
    ignores: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class JailExplanation:
    """One jail's view of the address.

    ``banned``: a ban is active from ``start`` until ``until`` (None: for ever), the
    address' ``count``-th in this jail, ``bantime`` seconds long. ``rule`` and ``steps``
    show how that ban time was computed (bantime.increment), ``random`` the most of it that
    ``rndtime`` added. ``matches`` are the lines that led to the latest ban (the store's,
    ``dbmaxmatches`` at most). ``failures`` are counted now (within ``findtime``), ``maxretry``
    is how many ban; ``ignore`` the ignore rules checked.

    ``network``: the banned network that holds the address (``banprefix``, ``escalate``, a
    manual CIDR ban), when it is not the address itself; ``members``: the addresses whose
    bans escalated that network (or the explained network itself) to a ban.
    """

    jail: str
    banned: bool
    start: float | None
    until: float | None
    remaining: float | None
    count: int
    bantime: float
    rule: str
    steps: tuple[str, ...]
    random: float
    matches: tuple[MatchedLineInfo, ...]
    failures: int
    maxretry: int
    findtime: float
    ignore: tuple[IgnoreRuleInfo, ...]
    next_bantime: float = 0.0
    next_steps: tuple[str, ...] = ()
    network: str = ""
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExplainReply:
    """The explanations of ``addr``, one per jail that knows it (empty: none does)."""

    kind: ClassVar[str] = "explanation"
    addr: str
    jails: tuple[JailExplanation, ...]
