#!/usr/bin/env bash
# The daemons side by side: fail2ban-server and `warden server`, same harness, same run.
#
#   bench/daemon_vs_fail2ban.sh [TESTS] [TRIALS]
#
# TESTS is a comma list of the shared harness's tests (default latency,burst,mem,ingest);
# TRIALS the number of latency trials (default 12). For each daemon the harness starts a
# private instance in its own network namespace with one sshd jail and the nftables action,
# and measures: ban latency (3rd failure line -> element in the nftables set, `nft monitor`),
# a 10,000-address burst, memory per tracked address (100,000 addresses x 2 failures), and
# ingest of a 200,000-line auth log. Results: $OUT/{fail2ban,warden}.json and a summary.
# Needs root (namespaces, nftables). fail2ban's burst alone takes about two minutes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shared=${WARDEN_SHARED:-$root/../shared}
tests=${1:-latency,burst,mem,ingest}
trials=${2:-12}
out=${WARDEN_BENCH_DIR:-/tmp/warden-bench-daemon}
python=${PYTHON:-$root/.venv/bin/python}
[ -x "$python" ] || python=python3
mkdir -p "$out"
warden="$python -m warden"
common=(--tests "$tests" --backends pyinotify --mem-backends pyinotify --trials "$trials"
        --ingest-lines 200000)

echo "== fail2ban-server"
python3 "$shared/bench/live_latency.py" "${common[@]}" --workdir "$out/fail2ban" \
    --json "$out/fail2ban.json" | grep -E '^(latency|burst|mem|ingest) '
echo "== warden server"
python3 "$shared/bench/live_latency.py" "${common[@]}" --workdir "$out/warden" \
    --server-cmd "$warden server -f -c {confdir} --socket {socket} --pidfile {pidfile} --logtarget {logtarget} --loglevel INFO" \
    --status-cmd "$warden status {jail} -c {confdir} --socket {socket}" \
    --stop-cmd "$warden stop -c {confdir} --socket {socket}" \
    --json "$out/warden.json" | grep -E '^(latency|burst|mem|ingest) '
