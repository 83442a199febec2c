"""A real OpenSSH server for the e2e tests, in a network namespace, logging through an
``rsyslogd`` of the test's own, and what an attacker or a user does against it.

``sshd_server`` runs Debian's sshd in a namespace and a private mount namespace whose
``/dev/log`` is the socket of ``syslog_daemon`` (the host's ``/dev`` is untouched);
``probe`` opens a TCP connection to port 22 from a source address, ``ssh`` logs in with a
password (``sshpass``) or a key; ``nftables_drop`` gives a test's configuration the stock
nftables actions with ``blocktype = drop``, so a banned address' connections time out.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.e2e.harness import wait_for

__all__ = ["NEEDS", "nftables_drop", "probe", "rsyslogd", "ssh", "sshd_server",
           "syslog_daemon"]

#: the commands these helpers run
NEEDS = ("nft", "sshpass", "ssh", "ssh-keygen", "rsyslogd", "unshare")
_STOCK_ACTIONS = Path("/etc/fail2ban/action.d")

_PROBE = r"""
import socket, sys
src, dst, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET)
s.settimeout(timeout)
s.bind((src, 0))
try:
    s.connect((dst, 22)); print("ok")
except TimeoutError:
    print("timeout")
except OSError as e:
    print(type(e).__name__)
"""


# A /dev for sshd: the real devices it needs, and /dev/log bound to our syslog socket.
_PRIVATE_DEV = r"""
set -e
dev=$1; sock=$2; ns=$3; config=$4
mount -t tmpfs warden-dev "$dev"
for f in null zero full random urandom tty ptmx; do
    touch "$dev/$f"; mount --bind "/dev/$f" "$dev/$f"
done
for d in pts shm; do mkdir "$dev/$d"; mount --rbind "/dev/$d" "$dev/$d"; done
ln -s /proc/self/fd "$dev/fd"
touch "$dev/log"; mount --bind "$sock" "$dev/log"
mount --rbind "$dev" /dev
exec ip netns exec "$ns" /usr/sbin/sshd -D -f "$config"
"""


def probe(ns: str, src: str, dst: str, timeout: float = 1.0) -> str:
    return subprocess.run(("ip", "netns", "exec", ns, sys.executable, "-c", _PROBE, src, dst,
                           str(timeout)), capture_output=True, text=True, check=True).stdout.strip()


def ssh(ns: str, src: str, dst: str, *, password: str | None = None, key: Path | None = None
         ) -> subprocess.CompletedProcess[str]:
    opts = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", f"BindAddress={src}", "-o", "ConnectTimeout=3", "-o", "BatchMode=no",
            "-o", "NumberOfPasswordPrompts=1", "-o", "LogLevel=ERROR"]
    if key is not None:
        opts += ["-i", str(key), "-o", "PreferredAuthentications=publickey",
                 "-o", "IdentitiesOnly=yes"]
        head: tuple[str, ...] = ()
    else:
        opts += ["-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no"]
        head = ("sshpass", "-p", password or "wrong")
    return subprocess.run(("ip", "netns", "exec", ns, *head, "ssh", *opts, f"root@{dst}",
                           "echo", "logged-in"), capture_output=True, text=True, timeout=30,
                          check=False)


@contextmanager
def rsyslogd(root: Path, action: str) -> Iterator[Path]:
    """rsyslogd reading a private socket under ``root`` (made if missing) and handling every
    message by ``action`` (rsyslog configuration lines); yields the socket programs log to."""
    root.mkdir(parents=True, exist_ok=True)
    sock, conf = root / "log.sock", root / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{root}")\n'
        'module(load="imuxsock" SysSock.Use="off")\n'
        f'input(type="imuxsock" Socket="{sock}" CreatePath="on")\n'
        f"{action}\n")
    proc = subprocess.Popen(("rsyslogd", "-n", "-f", str(conf), "-i", str(root / "rsyslog.pid")),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("rsyslogd's socket", sock.exists)
        yield sock
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def syslog_daemon(root: Path) -> Iterator[tuple[Path, Path]]:
    """rsyslogd on a private socket, writing everything to one file in syslog format."""
    log = root / "syslog"
    with rsyslogd(root, f'*.* action(type="omfile" file="{log}" '
                        'template="RSYSLOG_TraditionalFileFormat")') as sock:
        log.touch()
        yield sock, log


@contextmanager
def sshd_server(ns: str, root: Path, syslog: Path) -> Iterator[Path]:
    """sshd in ``ns`` logging to ``syslog``; yields the innocent user's private key."""
    hostkey, userkey = root / "hostkey", root / "userkey"
    for key in (hostkey, userkey):
        subprocess.run(("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)),
                       check=True)
    (root / "authorized_keys").write_text((root / "userkey.pub").read_text())
    config = root / "sshd_config"
    config.write_text(
        f"Port 22\nHostKey {hostkey}\nPidFile {root}/sshd.pid\nUsePAM no\n"
        "PermitRootLogin yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n"
        f"StrictModes no\nAuthorizedKeysFile {root}/authorized_keys\nMaxStartups 100\n"
        "MaxAuthTries 6\nLogLevel INFO\n")
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory sshd requires
    dev = root / "dev"
    dev.mkdir()
    sshd = subprocess.Popen(("unshare", "--mount", "--propagation", "private", "sh", "-c",
                             _PRIVATE_DEV, "sh", str(dev), str(syslog), ns, str(config)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield userkey
    finally:
        # sshd and the connections it forked: every process of the namespace is ours
        pids = subprocess.run(("ip", "netns", "pids", ns), capture_output=True, text=True,
                              check=False).stdout.split()
        for pid in pids:
            subprocess.run(("kill", "-TERM", pid), check=False, capture_output=True)
        sshd.wait(10)


def nftables_drop(conf: Path) -> None:
    """Give ``conf`` the stock nftables actions, dropping (not rejecting) banned traffic."""
    for name in ("nftables.conf", "nftables-multiport.conf"):
        shutil.copy(_STOCK_ACTIONS / name, conf / "action.d" / name)
    (conf / "action.d" / "nftables.local").write_text("[Init]\nblocktype = drop\n")
