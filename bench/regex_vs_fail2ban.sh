#!/usr/bin/env bash
# Side-by-side throughput and memory of `fail2ban-regex` and `warden regex` on generated logs.
#
#   bench/regex_vs_fail2ban.sh [LINES] [RUNS]
#
# Generates an sshd auth log and a sendmail mail log of LINES lines (default 1,000,000) with the
# shared generator, then runs both tools in alternating rounds with the shared harness, which
# reports median wall time, CPU, peak RSS, lines/s and the ratio to fail2ban, and checks that
# both tools count the generator's manifest exactly (--check). warden uses every CPU it may run
# on (WARDEN_JOBS=1 for one process); WARDEN overrides the command (default: .venv/bin/warden,
# else `python -m warden` with the python3 on PATH).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
shared=${WARDEN_SHARED:-$root/../shared}
lines=${1:-1000000}
runs=${2:-3}
out=${WARDEN_BENCH_DIR:-/tmp/warden-bench}
mkdir -p "$out"
warden=${WARDEN:-$root/.venv/bin/warden}
if [ -z "${WARDEN:-}" ] && [ ! -x "$warden" ]; then
    # No project venv: the interpreter itself (a pyenv shim would add its own start-up).
    warden="$(python3 -c 'import sys; print(sys.executable)') -m warden"
fi

for kind in auth mail; do
    log=$out/$kind-$lines.log
    if [ ! -s "$log" ]; then
        python3 "$shared/bench/genlog.py" "$kind" -n "$lines" -o "$log" --manifest "${log%.log}.json"
    fi
done

python3 "$shared/bench/bench_regex.py" \
    --log "$out/auth-$lines.log" --log "$out/mail-$lines.log" \
    --cmd 'fail2ban=fail2ban-regex {log} {filter}' \
    --cmd "warden=$warden regex {log} {filter}" \
    --runs "$runs" --warmup 1 --check --json "$out/results.jsonl"
