#!/usr/bin/env bash
# Local job runner with Kaldi's run.pl interface:
#   run_local.sh [--gpu N] [--nodes 1] [--mem M] [--time T] [--name S] [JOB=1:N] <log> <command...>
# Each JOB in the log name and command is replaced by the job index; jobs run in parallel,
# each log starts with the command line and ends with its exit status. Resource options are
# accepted (so cmd.sh can switch backends) and ignored here.
set -euo pipefail
while [[ $# -gt 0 && "$1" == --* ]]; do
    case "$1" in
        --gpu|--mem|--time|--name) shift 2 ;;
        --nodes)
            if [ "$2" -gt 1 ]; then echo "$0: --nodes $2: multi-node jobs need CMD_BACKEND=slurm" >&2; exit 1; fi
            shift 2 ;;
        *) echo "$0: unknown option $1" >&2; exit 1 ;;
    esac
done
# shellcheck source=job_range.sh
. "$(dirname "${BASH_SOURCE[0]}")/job_range.sh"

pids=()
for ((j = first; j <= last; j++)); do
    jlog="${log//JOB/$j}"
    mkdir -p "$(dirname "${jlog}")"
    args=("${@//JOB/$j}")
    (
        echo "# ${args[*]}"
        echo "# started at $(date)"
        set +e
        "${args[@]}"
        rc=$?
        echo "# ended at $(date) with exit status ${rc}"
        exit "${rc}"
    ) >"${jlog}" 2>&1 &
    pids+=("$!")
done
failed=()
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("$((first + i))")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "$0: ${#failed[@]} of $((last - first + 1)) job(s) failed (job ${failed[*]}); see ${log//JOB/${failed[0]}}:" >&2
    tail -n 20 "${log//JOB/${failed[0]}}" >&2
    exit 1
fi
