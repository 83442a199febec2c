#!/usr/bin/env bash
# SSHGuard's parser over a log, one process, its attack lines thrown away:
#   bench/sshg_parser.sh LOG      (Debian package sshguard; SSHG_PARSER overrides the path)
set -euo pipefail
exec "${SSHG_PARSER:-/usr/libexec/sshguard/sshg-parser}" < "$1" > /dev/null
