#!/usr/bin/env bash
# `warden regex` with warden's own filter named like a stock one, in one process:
#   bench/own_filter.sh LOG /etc/fail2ban/filter.d/NAME.conf
# (for bench_regex.py, whose {filter} is the stock filter file of the log's manifest)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
WARDEN_JOBS=1 exec "$root/.venv/bin/warden" regex -c "$root/src/warden/data" "$1" "$(basename "$2" .conf)"
