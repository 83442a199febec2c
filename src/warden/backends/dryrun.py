"""The dry-run backend: enforces nothing, records everything (fail2ban's ``dummy``).

It keeps the bans in memory with their end times, so ``banned`` answers like a firewall with
kernel timeouts would, and it appends one line per operation to ``log`` so tests and
``--dry-run`` users can see what a real backend would have done.

Given a ``target`` file (fail2ban's stock ``dummy`` action and its ``target=`` parameter) it
also keeps that file as the stock action does: created with the ``init`` line at start, then
``+ADDR`` per ban, ``-ADDR`` per unban, ``-*`` per flush, removed at stop. The lines are
written with plain file I/O, never through a shell.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from warden.backends.base import BanEntry, BaseBackend, Held, JailRule, Network, UnbanEntry
from warden.errors import BackendError

__all__ = ["DryRunBackend"]


class DryRunBackend(BaseBackend):
    """A firewall that only records (bans expire at their ``until`` like kernel timeouts)."""

    name = "dryrun"

    def __init__(self, state: dict[str, dict[Network, float | None]] | None = None, *,
                 target: str | None = None, init: str = "") -> None:
        """``state`` stands for the kernel: pass one instance's ``state`` to the next to
        model a daemon restart. ``target``: a file to record in as the stock dummy does,
        starting with the ``init`` line."""
        super().__init__()
        self.target = target
        self.init = init
        self.log: list[str] = []
        self.commits = 0
        self.state: dict[str, dict[Network, float | None]] = {} if state is None else state
        self._sets = self.state
        self._now = float("-inf")

    def _record(self, lines: list[str]) -> None:
        # the stock action appends one line per event; so do we (the file may be shared)
        if self.target is None or not lines:
            return
        try:
            with open(self.target, "a", encoding="utf-8") as out:
                out.write("".join(f"{line}\n" for line in lines))
        except OSError as exc:
            raise BackendError(f"dummy: cannot write its target {self.target}: "
                               f"{exc.strerror}") from exc

    def start(self, jails: Sequence[JailRule]) -> None:
        """Start ``jails``; then, with a target, write the stock actionstart's init line once
        a jail (after the jails are started: a target that cannot be written costs the file,
        never the dry run)."""
        rules = list(jails)
        super().start(rules)
        self._record([self.init for _ in rules])

    def _start(self, rules: list[JailRule]) -> None:
        for rule in rules:
            self._sets.setdefault(rule.jail, {})
            self.log.append(f"start {rule.jail} ports={','.join(rule.ports) or 'all'}")

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        self.commits += 1
        self._now = now
        lines: list[str] = []
        for entry in bans:
            held = self._sets[entry.jail]
            if entry.network not in held:  # a refreshed ban runs no second actionban
                lines.append(f"+{_text(entry.network)}")
            held[entry.network] = entry.until
            self.log.append(f"ban {entry.jail} {entry.network}")
        for unban in unbans:
            if unban.network in self._sets[unban.jail]:
                lines.append(f"-{_text(unban.network)}")
            self._sets[unban.jail].pop(unban.network, None)
            self.log.append(f"unban {unban.jail} {unban.network}")
        self._record(lines)

    def expire(self, now: float) -> None:
        """Let time pass: drop the bans whose end is before ``now`` (a kernel timeout)."""
        self._now = now

    def banned(self, jail: str) -> set[Network]:
        """The bans of ``jail`` still running at the last known time."""
        return {
            net for net, until in self._sets.get(jail, {}).items()
            if until is None or until > self._now
        }

    def present(self, jail: str, now: float) -> dict[Network, Held]:
        """The running bans of ``jail`` with their time left (as a kernel with timeouts
        reports them; it keeps no start time)."""
        return {net: Held(None if until is None else until - now)
                for net, until in self._sets.get(jail, {}).items()
                if until is None or until > max(now, self._now)}

    def _flush(self, jail: str) -> None:
        self._sets[jail].clear()
        self.log.append(f"flush {jail}")
        self._record(["-*"])

    def _stop(self, remove: bool) -> None:
        self.log.append("stop remove" if remove else "stop")
        if remove:
            self._sets.clear()
        if self.target is not None:
            # the stock actionstop removes the file ("rm -f": a missing one is fine)
            try:
                os.unlink(self.target)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise BackendError(f"dummy: cannot remove its target {self.target}: "
                                   f"{exc.strerror}") from exc


def _text(net: Network) -> str:
    # an address as fail2ban writes <ip>: without the /32 or /128 of a single host
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
