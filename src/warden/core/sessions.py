"""``<F-MLFID>`` sessions: the lines of one connection joined into one failure, as fail2ban.

A session is the merged captures of the matches sharing one ``<F-MLFID>`` value; ``<F-NOFAIL>``
matches are held until the session turns out to be a failure (a host appears for a pending
session, or several users were tried), ``<F-MLFFORGET>`` ends it, ``<F-MLFGAINED>`` marks an
access that was gained. Kept: at most 100 sessions, each for 5 minutes after it was opened.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

__all__ = ["Sessions"]


# fail2ban keeps at most 100 sessions, each for 5 minutes after it was opened.
_SESSION_COUNT = 100
_SESSION_TTL = 300.0

_NOFAIL, _FORGET, _WAS_NOFAIL, _GAINED = 1, 2, 4, 8


class Sessions:
    """``<F-MLFID>`` sessions: the merged captures of one connection, by session id."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: OrderedDict[object, tuple[dict[str, object], float]] = OrderedDict()

    def _set(self, key: object, value: dict[str, object], now: float) -> None:
        cache = self._cache
        if len(cache) >= _SESSION_COUNT:
            # Drop oldest entries until one that is still alive has been dropped to make room.
            while cache:
                _k, (_v, expires) = cache.popitem(last=False)
                if expires > now and len(cache) < _SESSION_COUNT:
                    break
        cache[key] = (value, now + _SESSION_TTL)

    def items(self) -> list[tuple[object, tuple[dict[str, object], float]]]:
        """The sessions, oldest first (the eviction order)."""
        return list(self._cache.items())

    def load(self, items: list[tuple[object, tuple[dict[str, object], float]]]) -> None:
        """Replace the sessions by ``items`` (as from :meth:`items`; ours from now on)."""
        self._cache = OrderedDict(items)

    @staticmethod
    def _add_user(fail: dict[str, object], user: object) -> set[object] | None:
        users = fail.get("users")
        if user:
            if not users:
                users = fail["users"] = set()
            assert isinstance(users, set)
            users.add(user)
        return users if isinstance(users, set) else None

    def merge(self, key: object, fail: dict[str, object], lines: Sequence[str],
              now: float) -> dict[str, object]:
        """Merge a match into its session; return the session's (possibly shared) captures."""
        get = fail.get
        gained = get("mlfgained")
        if gained:
            flags = _GAINED | _NOFAIL
            if not get("nofail"):
                fail["nofail"] = gained
        else:
            flags = _NOFAIL if get("nofail") else 0
        if fail.pop("mlfforget", None):
            flags |= _FORGET
        cache = self._cache
        entry = cache.get(key)
        if entry is not None and entry[1] <= now:
            del cache[key]  # expired
            entry = None
        user = get("user")
        if entry is not None:
            session = entry[0]
            # _add_user(session, user), inlined (this runs for most matched lines)
            users = session.get("users")
            if user:
                if not users:
                    users = session["users"] = set()
                assert isinstance(users, set)
                users.add(user)
            if not isinstance(users, set):
                users = None
            pop = session.pop
            # Only the latest line's nofail/gained state counts.
            if pop("nofail", None):
                flags |= _WAS_NOFAIL
            if pop("mlfgained", None):
                flags |= _WAS_NOFAIL
            if flags & _GAINED:
                pop("mlfpending", None)
            if not flags & _WAS_NOFAIL and not session.get("mlfpending", 0):
                pop("matches", None)  # already reported with an earlier failure
            for k, v in fail.items():
                if v is not None:
                    session[k] = v
            fail = session
            if flags & _FORGET:
                cache.pop(key, None)
        elif not flags & _FORGET:
            # a new session (most failures in a flood): _add_user and _set, inlined
            if user and "users" not in fail:
                users = fail["users"] = {user}
            else:
                users = self._add_user(fail, user)
            if len(cache) >= _SESSION_COUNT:
                self._set(key, fail, now)
            else:
                cache[key] = (fail, now + _SESSION_TTL)
        else:
            users = None
        if fail.pop("mlfpending", 0) or (users and len(users) > 1):
            # Pending failures or several users tried: this is a failure after all.
            fail.pop("nofail", None)
            fail.pop("mlfgained", None)
            flags &= ~(_GAINED | _NOFAIL)
        if not flags & _NOFAIL:
            held = fail.pop("nofail-matches", None)
            merged = list(held) if isinstance(held, list) else []
            earlier = fail.get("matches")
            if isinstance(earlier, list):
                merged += earlier
            if not flags & _GAINED:
                merged += lines
            fail["matches"] = merged
        elif flags & (_NOFAIL | _FORGET) == _NOFAIL:
            held = fail.get("nofail-matches")
            if isinstance(held, list):
                held.extend(lines)  # in place: long sessions must not cost quadratic time
            else:
                fail["nofail-matches"] = list(lines)
        return fail
