"""``Jail.line_counts``: the lines its failure filters matched and ignored (what
``warden_lines_matched_total`` / ``warden_lines_ignored_total`` serve), counted as ``warden
regex`` counts them, with or without a success filter, and kept over a reconfigure."""

from __future__ import annotations

import dataclasses

from tests.core.test_jail_trust import SSHD, accepted, at, failed, jail, line
from warden.core.filterdef import FilterDefinition

# an ignoreregex that drops one user's failures
SSHD_IGNORING_BOB = dataclasses.replace(SSHD, ignoreregex=(r"for bob from",))
SCRIPT = [("10:00:00", failed("192.0.2.1")),
          ("10:00:01", "Failed password for bob from 192.0.2.2 port 1 ssh2"),
          ("10:00:02", accepted("192.0.2.3")),
          ("10:00:03", "session opened for user alice"),
          ("10:00:04", failed("192.0.2.1"))]


def _feed(defn: FilterDefinition, trust: float | None) -> tuple[int, int]:
    j = jail(trust, filters=(defn,))
    j.feed_lines([line(t, text) for t, text in SCRIPT[:3]], at("10:00:02"))
    j.feed_lines([line(t, text) for t, text in SCRIPT[3:]], at("10:00:04"))
    return j.line_counts()


def test_matched_and_ignored_lines() -> None:
    # the login is no failure line of the failure filter (it has no successregex there)
    assert _feed(SSHD_IGNORING_BOB, None) == (2, 1)
    # with trustsuccess the success filter shares the failure filter's dates: same counts
    assert _feed(SSHD_IGNORING_BOB, 3600.0) == (2, 1)
    assert _feed(SSHD, 3600.0) == (3, 0)


def test_a_reconfigure_keeps_the_counts() -> None:
    j = jail(None, filters=(SSHD,))
    j.feed_lines([line(t, text) for t, text in SCRIPT], at("10:00:04"))
    assert j.line_counts() == (3, 0)
    j.reconfigure(dataclasses.replace(j.spec, filters=(SSHD_IGNORING_BOB,)))
    j.feed_lines([line("10:00:05", "Failed password for bob from 192.0.2.2 port 1 ssh2")],
                 at("10:00:05"))
    assert j.line_counts() == (3, 1)


def test_counts_of_the_filters_copies_elsewhere_are_added() -> None:
    # a worker process scans with copies of the filters: its counts join the jail's
    j = jail(None, filters=(SSHD_IGNORING_BOB,))
    j.add_line_counts(5, 2)
    j.feed_lines([line(t, text) for t, text in SCRIPT], at("10:00:04"))
    assert j.line_counts() == (7, 3)
    j.reconfigure(dataclasses.replace(j.spec, filters=(SSHD,)))
    assert j.line_counts() == (7, 3)
