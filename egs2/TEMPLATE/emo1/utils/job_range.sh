#!/usr/bin/env bash
# Sourced by the job runners once their own --options are consumed: reads an optional
# JOB=first:last and the log path from the positional parameters, sets ${first}, ${last}
# and ${log}, and leaves the command in "$@".
first=1; last=1
# shellcheck disable=SC2034  # first, last: read by the sourcing runner
if [[ "${1:-}" =~ ^JOB=([0-9]+):([0-9]+)$ ]]; then
    first="${BASH_REMATCH[1]}"; last="${BASH_REMATCH[2]}"; shift
fi
if [ $# -lt 2 ]; then echo "usage: $0 [options] [JOB=1:N] <log> <command...>" >&2; exit 1; fi
# shellcheck disable=SC2034  # log: read by the sourcing runner
log="$1"; shift
