"""Worker processes (``workers``): the jails' filters run in real child processes, the main
process counts; the bans, counts and stored positions must be those of one process.

Each test runs a real :class:`Runtime` twice over the same batches, once without workers and
once with them (real ``python -m warden.daemon.workers`` processes, a real SQLite store), and
compares what the store holds and what the metrics say. A worker killed with SIGKILL in the
middle of a burst is started again and loses no line; a worker that cannot start at all, or
that answers garbage, gives its jail back.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import pytest

import warden
from tests.e2e.harness import failure_line
from warden.backends.base import JailRule
from warden.backends.dryrun import DryRunBackend
from warden.config import load_jails
from warden.config.validate import settings_problems, workers
from warden.core.jail import Jail
from warden.daemon.enforcer import Enforcer, Route
from warden.daemon.jailspec import jail_spec
from warden.daemon.metrics import Metrics, Scrape
from warden.daemon.runtime import JailSlot, Runtime
from warden.daemon.settings import read_settings
from warden.errors import ConfigError
from warden.sources.base import FilePosition, LogBatch
from warden.store import SqliteBanStore

FILTERS = Path("/etc/fail2ban/filter.d")
OWN_FILTERS = Path(warden.__file__).parent / "data" / "filter.d"
pytestmark = pytest.mark.skipif(not (FILTERS / "sshd.conf").exists(), reason="needs fail2ban")
NOW = 1_800_000_000.0
STATUS: dict[int, dict[str, int | None]] = {}
#: each run's per-jail metrics series (``warden_lines_matched_total{jail="a"} 12``, ...)
METRICS: dict[int, list[str]] = {}
LOGIN = ("Nov 14 09:{:02d}:00 host sshd[4163]: Accepted publickey for alice from "
         "192.0.2.44 port 18438 ssh2: ED25519 SHA256:IKJbW3")


def _config(tmp_path: Path, trust: bool) -> Path:
    """Two sshd jails; with ``trust`` warden's own sshd filter (it has a successregex) and
    ``trustsuccess``, so the workers send successes too."""
    conf = tmp_path / "conf"
    (conf / "filter.d").mkdir(parents=True, exist_ok=True)
    (conf / "action.d").mkdir(exist_ok=True)
    for name in ("sshd.conf", "common.conf"):
        (conf / "filter.d" / name).write_text(((OWN_FILTERS if trust else FILTERS) / name)
                                              .read_text())
    (conf / "action.d" / "dummy.conf").write_text("[Definition]\nactionban =\n")
    (conf / "jail.conf").write_text("".join(
        f"[{name}]\nenabled = true\nfilter = sshd\naction = dummy\n"
        f"logpath = {tmp_path}/{name}.log\nmaxretry = 3\nfindtime = 1h\nbantime = 1h\n"
        f"ignoreself = false\n{'trustsuccess = 1h' if trust else ''}\n\n"
        for name in ("a", "b")))
    return conf


def _batches(tmp_path: Path, seed: int) -> list[LogBatch]:
    """Interleaved batches of the two logs: failures of 60 addresses (1 to 6 each, so some
    are banned and some not), benign lines between them, and logins of a third of the
    addresses (a success where a filter has a successregex)."""
    rng = random.Random(seed)
    out: list[LogBatch] = []
    for name in ("a", "b"):
        lines: list[str] = []
        for n in range(60):
            addr = f"198.51.100.{n + 1}" if name == "a" else f"2001:db8:{n + 1:x}::7"
            lines += [failure_line(addr, when=NOW - 600 + n).rstrip("\n")] * rng.randint(1, 6)
            if n % 3 == 0:
                lines.append(failure_line(addr, when=NOW - 700).rstrip("\n").replace(
                    "Failed password for root", "Accepted password for root"))
        lines += [f"Nov 14 09:{m % 60:02d}:00 host sshd[99]: Accepted publickey for bob"
                  for m in range(400)]
        # logins sshd's filter matches but that are no failure (its "ignored" lines)
        lines += [LOGIN.format(m) for m in range(30)]
        rng.shuffle(lines)
        path = f"{tmp_path}/{name}.log"
        offset = 0
        for i in range(0, len(lines), 37):
            chunk = lines[i:i + 37]
            offset += sum(len(x) + 1 for x in chunk)
            out.append(LogBatch(path, chunk, FilePosition(path, offset)))
    rng.shuffle(out)
    out.sort(key=lambda b: (b.source, b.position.offset
                            if isinstance(b.position, FilePosition) else 0))
    # the two files' batches alternate, as a source reading two busy logs hands them out
    half = len(out) // 2
    return [b for pair in zip(out[:half], out[half:], strict=False) for b in pair] + \
        out[2 * half:]


async def _run(tmp_path: Path, batches: list[LogBatch], limit: int, *,
               kill_after: int | None = None, trust: bool = False
               ) -> tuple[Runtime, SqliteBanStore]:
    """Feed ``batches`` to a runtime with ``limit`` workers; SIGKILL every worker once
    ``kill_after`` batches were handed in. The workers' :meth:`Workers.status` before they
    are closed is left in ``STATUS[limit]``, the per-jail metrics in ``METRICS[limit]``."""
    cfgs = load_jails(_config(tmp_path, trust)).jails
    store = SqliteBanStore(tmp_path / f"state-{limit}-{kill_after}-{trust}.db")
    enforcer = Enforcer({"dryrun": DryRunBackend()}, clock=lambda: NOW)
    await enforcer.start_jails({c.name: Route(JailRule(c.name), ("dryrun",)) for c in cfgs})
    runtime = Runtime(store, enforcer, clock=lambda: NOW)
    metrics = Metrics(NOW)
    runtime.observers.append(metrics)
    for cfg in cfgs:
        runtime.add_jail(JailSlot(cfg, Jail(jail_spec(cfg)), (f"{tmp_path}/{cfg.name}.log",)))
    runtime.use_workers(limit)
    async with asyncio.TaskGroup() as group:
        runtime.task_group = group
        task = group.create_task(enforcer.run())
        for i, batch in enumerate(batches):
            if i == kill_after:
                assert runtime.workers is not None
                for pid in runtime.workers.status().values():
                    assert pid is not None
                    os.kill(pid, signal.SIGKILL)
            await runtime.on_batch(batch)
        if runtime.workers is not None:
            await runtime.workers.drain()
        runtime.save_positions()
        if runtime.workers is not None:
            STATUS[limit] = runtime.workers.status()
            await runtime.workers.close()
        task.cancel()
    METRICS[limit] = [line for line in metrics.render(Scrape(runtime.slots,
                                                             runtime.lines_read, []))
                      .splitlines() if 'jail="' in line]
    return runtime, store


def _state(runtime: Runtime, store: SqliteBanStore) -> tuple[object, ...]:
    bans = sorted((b.jail, b.addr, b.count) for b in store.active_bans(NOW))
    totals = {name: slot.jail.status(NOW).total_failed for name, slot in runtime.slots.items()}
    offsets = {k: v["offset"] for k, v in store.positions().items()}
    return bans, totals, offsets


def test_two_busy_logs_in_workers_give_the_bans_of_one_process(tmp_path: Path) -> None:
    batches = _batches(tmp_path, 1)

    async def scenario() -> None:
        alone = _state(*await _run(tmp_path, batches, 0))
        runtime, store = await _run(tmp_path, batches, 2)
        assert _state(runtime, store) == alone
        bans = alone[0]
        assert isinstance(bans, list)
        assert {jail for jail, _, _ in bans} == {"a", "b"} and len(bans) > 20
        assert runtime.workers is not None and runtime.workers.restarts == 0
        # both jails' lines really went through worker processes
        assert sorted(STATUS[2]) == ["a", "b"] and None not in STATUS[2].values()
        # the lines the workers' filters matched and ignored are in the daemon's metrics
        assert METRICS[2] == METRICS[0]
        for jail in ("a", "b"):
            lines = [line for b in batches if b.source.endswith(f"/{jail}.log")
                     for line in b.lines]
            failures = sum("Failed password" in line for line in lines)
            # the logins with an address (not bob's): matched, but no failure
            logins = sum("Accepted" in line and " from " in line for line in lines)
            assert runtime.slots[jail].jail.line_counts() == (failures, logins) != (0, 0)
            assert f'warden_lines_matched_total{{jail="{jail}"}} {failures}' in METRICS[2]

    asyncio.run(scenario())


def test_successes_found_in_workers_give_the_trust_of_one_process(tmp_path: Path) -> None:
    batches = _batches(tmp_path, 6)

    async def scenario() -> None:
        untrusting = _state(*await _run(tmp_path, batches, 0))
        alone = _state(*await _run(tmp_path, batches, 0, trust=True))
        assert alone[0] != untrusting[0]  # the logins spared some addresses their ban
        runtime, store = await _run(tmp_path, batches, 2, trust=True)
        assert _state(runtime, store) == alone
        assert METRICS[2] == METRICS[0]
        assert None not in STATUS[2].values()
        assert runtime.slots["a"].jail.spec.trusting

    asyncio.run(scenario())


def test_one_worker_for_two_jails_leaves_the_other_in_the_main_process(
        tmp_path: Path) -> None:
    batches = _batches(tmp_path, 2)

    async def scenario() -> None:
        alone = _state(*await _run(tmp_path, batches, 0))
        assert _state(*await _run(tmp_path, batches, 1)) == alone
        assert len(STATUS[1]) == 1 and None not in STATUS[1].values()
        assert METRICS[1] == METRICS[0]

    asyncio.run(scenario())


def test_a_killed_worker_is_started_again_and_no_line_is_lost(tmp_path: Path) -> None:
    batches = _batches(tmp_path, 3)

    async def scenario() -> None:
        alone = _state(*await _run(tmp_path, batches, 0))
        runtime, store = await _run(tmp_path, batches, 2, kill_after=len(batches) // 2)
        assert runtime.workers is not None and runtime.workers.restarts >= 1
        # the filter's multi-line state starts anew, but fail2ban's sshd failures are each
        # one line: the same bans, counts and positions
        assert _state(runtime, store) == alone
        assert METRICS[2] == METRICS[0]

    asyncio.run(scenario())


def test_a_worker_that_cannot_start_gives_its_jail_back(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    batches = _batches(tmp_path, 4)

    async def scenario() -> None:
        alone = _state(*await _run(tmp_path, batches, 0))
        monkeypatch.setattr(sys, "executable", "/bin/false")
        runtime, store = await _run(tmp_path, batches, 2)
        assert runtime.workers is not None
        assert STATUS[2] == {"a": None, "b": None}  # both scanned here
        assert _state(runtime, store) == alone

    asyncio.run(scenario())


def _settings_tree(tmp_path: Path, line: str) -> Path:
    (tmp_path / "warden.conf").write_text(f"[Definition]\nsocket = /run/w/w.sock\n{line}")
    (tmp_path / "jail.conf").write_text("[DEFAULT]\n")
    return tmp_path


@pytest.mark.parametrize(("line", "expected"), [
    ("", 0), ("workers = no\n", 0), ("workers = 0\n", 0), ("workers = 3\n", 3),
    ("workers = auto\n", (os.cpu_count() or 1) if (os.cpu_count() or 1) >= 2 else 0),
])
def test_workers_are_off_unless_set(tmp_path: Path, line: str, expected: int) -> None:
    settings = read_settings(load_jails(_settings_tree(tmp_path, line)).settings,
                             foreground=True)
    assert settings.workers == expected


def test_auto_is_one_per_cpu_from_two(tmp_path: Path) -> None:
    value = load_jails(_settings_tree(tmp_path, "workers = auto\n")).settings["workers"]
    assert [workers(value, cpus=n) for n in (1, 2, 8)] == [0, 2, 8]


@pytest.mark.parametrize("value", ["many", "-1", "1.5", "257"])
def test_a_bad_value_names_its_line(tmp_path: Path, value: str) -> None:
    config = load_jails(_settings_tree(tmp_path, f"workers = {value}\n"))
    problems = settings_problems(config.settings)
    assert [str(p) for p in problems] == [
        f"{tmp_path}/warden.conf:3: workers = {value}: use auto, no, or a whole number from "
        "0 to 256 (jails whose filters run in a process of their own)"]
    with pytest.raises(ConfigError) as raised:
        read_settings(config.settings, foreground=True)
    assert str(raised.value) == str(problems[0])


# A worker that answers garbage, in one of four ways (argv[1]); argv[2] is a file the pickle's
# code would create if the daemon ran it.
BAD_WORKER = """
import marshal, pickle, struct, sys
mode, mark = sys.argv[1:3]
inp, out = sys.stdin.buffer, sys.stdout.buffer

def read():
    head = inp.read(4)
    if len(head) < 4:
        sys.exit(0)
    return inp.read(struct.unpack("!I", head)[0])

class Evil:
    def __reduce__(self):
        import os
        return os.system, ("touch " + mark,)

read()  # the spec
while True:
    seq, lines, now = marshal.loads(read())
    if mode == "huge":
        out.write(struct.pack("!I", 2**32 - 1))
    else:
        body = {"pickle": lambda: pickle.dumps(Evil()),
                "seq": lambda: marshal.dumps((seq + 1, 0, 0, [])),
                "index": lambda: marshal.dumps(
                    (seq, 1, 0, [(len(lines), 0, "192.0.2.1", now, {}, (), 0)]))}[mode]()
        out.write(struct.pack("!I", len(body)) + body)
    out.flush()
"""


@pytest.mark.parametrize("mode", ["pickle", "seq", "index", "huge"])
def test_a_worker_that_answers_garbage_is_restarted_then_its_jail_given_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        mode: str) -> None:
    batches = _batches(tmp_path, 5)
    (tmp_path / "bad.py").write_text(BAD_WORKER)
    mark = tmp_path / "the pickle ran"
    launcher = tmp_path / "python"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {tmp_path}/bad.py {mode} '{mark}'\n")
    launcher.chmod(0o755)

    async def scenario() -> None:
        alone = _state(*await _run(tmp_path, batches, 0))
        monkeypatch.setattr(sys, "executable", str(launcher))
        runtime, store = await _run(tmp_path, batches, 2)
        assert runtime.workers is not None and runtime.workers.restarts == 2
        assert STATUS[2] == {"a": None, "b": None}  # both given back, scanned here
        assert _state(runtime, store) == alone
        assert METRICS[2] == METRICS[0]

    asyncio.run(scenario())
    assert not mark.exists()
    assert sum("answered garbage" in r.message for r in caplog.records) == 4
