#!/usr/bin/env bash
# Slurm job runner with the same interface as run_local.sh:
#   run_slurm.sh [--gpu N] [--mem M] [--time T] [--name S] [JOB=1:N] <log> <command...>
# Submits one job array (sbatch --wait), JOB = the array index, and fails if any task fails.
# Extra sbatch options (partition, account, ...) come from $SLURM_EXTRA_OPTS.
set -euo pipefail
gpu=0; mem=""; time_limit=""; name="emo"
while [[ $# -gt 0 && "$1" == --* ]]; do
    case "$1" in
        --gpu) gpu="$2"; shift 2 ;;
        --mem) mem="$2"; shift 2 ;;
        --time) time_limit="$2"; shift 2 ;;
        --name) name="$2"; shift 2 ;;
        *) echo "$0: unknown option $1" >&2; exit 1 ;;
    esac
done
# shellcheck source=job_range.sh
. "$(dirname "${BASH_SOURCE[0]}")/job_range.sh"

qdir="$(dirname "${log}")/q"
mkdir -p "${qdir}"
script="${qdir}/$(basename "${log//JOB/array}" .log).sh"
command="$(printf '%q ' "$@")"
{
    echo "#!/usr/bin/env bash"
    echo "cd $(printf '%q' "${PWD}")"
    echo "[ -f ./path.sh ] && . ./path.sh"
    # shellcheck disable=SC2016  # written literally: expanded when the job script runs
    echo 'JOB="${SLURM_ARRAY_TASK_ID:-1}"'
    echo "echo \"# ${command//\"/\\\"}\""
    echo "${command//JOB/\$\{JOB\}}"
} >"${script}"
chmod +x "${script}"

opts=(--wait --parsable --job-name "${name}" --array "${first}-${last}" --output "${log//JOB/%a}")
[ "${gpu}" -gt 0 ] && opts+=(--gres "gpu:${gpu}")
[ -n "${mem}" ] && opts+=(--mem "${mem}")
[ -n "${time_limit}" ] && opts+=(--time "${time_limit}")
# shellcheck disable=SC2086  # SLURM_EXTRA_OPTS: an options string, split into arguments on purpose
if ! sbatch "${opts[@]}" ${SLURM_EXTRA_OPTS:-} "${script}"; then
    echo "$0: slurm job array ${name} failed; logs: ${log//JOB/<index>}" >&2
    exit 1
fi
