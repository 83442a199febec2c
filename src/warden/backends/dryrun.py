"""The dry-run backend: enforces nothing, records everything (fail2ban's ``dummy``).

It keeps the bans in memory with their end times, so ``banned`` answers like a firewall with
kernel timeouts would, and it appends one line per operation to ``log`` so tests and
``--dry-run`` users can see what a real backend would have done.
"""

from __future__ import annotations

from warden.backends.base import BanEntry, BaseBackend, Held, JailRule, Network, UnbanEntry

__all__ = ["DryRunBackend"]


class DryRunBackend(BaseBackend):
    """A firewall that only records (bans expire at their ``until`` like kernel timeouts)."""

    name = "dryrun"

    def __init__(self, state: dict[str, dict[Network, float | None]] | None = None) -> None:
        """``state`` stands for the kernel: pass one instance's ``state`` to the next to
        model a daemon restart."""
        super().__init__()
        self.log: list[str] = []
        self.commits = 0
        self.state: dict[str, dict[Network, float | None]] = {} if state is None else state
        self._sets = self.state
        self._now = float("-inf")

    def _start(self, rules: list[JailRule]) -> None:
        for rule in rules:
            self._sets.setdefault(rule.jail, {})
            self.log.append(f"start {rule.jail} ports={','.join(rule.ports) or 'all'}")

    def _apply(self, bans: list[BanEntry], unbans: list[UnbanEntry], now: float) -> None:
        self.commits += 1
        self._now = now
        for entry in bans:
            self._sets[entry.jail][entry.network] = entry.until
            self.log.append(f"ban {entry.jail} {entry.network}")
        for unban in unbans:
            self._sets[unban.jail].pop(unban.network, None)
            self.log.append(f"unban {unban.jail} {unban.network}")

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

    def _stop(self, remove: bool) -> None:
        self.log.append("stop remove" if remove else "stop")
        if remove:
            self._sets.clear()
