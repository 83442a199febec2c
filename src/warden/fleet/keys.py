"""The Redis key layout of a fleet (every key under one prefix, so an ACL can confine a
warden user to ``~warden:*``).

==================================  =====================================================
``warden:{JAIL}:bans``              stream: the bans and unbans of jail JAIL, every host
``warden:{JAIL}:fail:ADDR``         sorted set: failures of ADDR in JAIL (score = time)
``warden:peers``                    hash: host name -> when it was last seen (epoch)
==================================  =====================================================

The jail name is a Redis Cluster hash tag (``{JAIL}``): one jail's stream and failure sets
live on one shard, so the failure script touches one slot and jails spread over shards.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KeyLayout"]


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """The names of the fleet's keys under ``prefix``."""

    prefix: str = "warden"

    def stream(self, jail: str) -> str:
        """The stream of ``jail``'s bans and unbans."""
        return f"{self.prefix}:{{{jail}}}:bans"

    def failures(self, jail: str, addr: str) -> str:
        """The sorted set of ``addr``'s failures in ``jail``."""
        return f"{self.prefix}:{{{jail}}}:fail:{addr}"

    @property
    def peers(self) -> str:
        """The hash of host names and when each was last seen."""
        return f"{self.prefix}:peers"

    def jail_of(self, stream: str) -> str | None:
        """The jail a stream key belongs to (None if it is not one of ours)."""
        head = f"{self.prefix}:{{"
        if not stream.startswith(head) or not stream.endswith("}:bans"):
            return None
        return stream[len(head):-len("}:bans")]
