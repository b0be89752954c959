#!/usr/bin/env bash
# Slurm job runner with the same interface as run_local.sh:
#   run_slurm.sh [--gpu N] [--nodes M] [--mem M] [--time T] [--name S] [JOB=1:N] <log> <command...>
# Submits one job array (sbatch --wait), JOB = the array index, and fails if any task fails.
# --gpu N: N GPUs per node (--gres gpu:N). --nodes M > 1: each job gets M nodes and runs its
# command through srun, one task per node, with MASTER_ADDR (the job's first node),
# MASTER_PORT (from the job id), WORLD_SIZE (the number of nodes) and RANK (the node id):
# what ESPnet's --multiprocessing_distributed mode reads to join the nodes.
# Extra sbatch options (partition, account, ...) come from $SLURM_EXTRA_OPTS.
set -euo pipefail
gpu=0; nodes=1; mem=""; time_limit=""; name="emo"
while [[ $# -gt 0 && "$1" == --* ]]; do
    case "$1" in
        --gpu) gpu="$2"; shift 2 ;;
        --nodes) nodes="$2"; shift 2 ;;
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
launch=""
# shellcheck disable=SC2016  # written literally: expanded by the task's own shell on each node
[ "${nodes}" -gt 1 ] && launch="srun --nodes ${nodes} --ntasks-per-node 1 --kill-on-bad-exit=1 bash -c 'export WORLD_SIZE=\"\${SLURM_NNODES}\" RANK=\"\${SLURM_NODEID}\"; exec \"\$@\"' srun-task "
{
    echo "#!/usr/bin/env bash"
    echo "cd $(printf '%q' "${PWD}")"
    echo "[ -f ./path.sh ] && . ./path.sh"
    # shellcheck disable=SC2016  # written literally: expanded when the job script runs
    echo 'JOB="${SLURM_ARRAY_TASK_ID:-1}"'
    if [ "${nodes}" -gt 1 ]; then
        cat <<'EOF'
MASTER_ADDR="$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)"
MASTER_PORT="$((20000 + ${SLURM_JOB_ID:-0} % 20000))"
export MASTER_ADDR MASTER_PORT
EOF
    fi
    echo "echo \"# ${launch:+srun on ${nodes} nodes: }${command//\"/\\\"}\""
    echo "${launch}${command//JOB/\$\{JOB\}}"
} >"${script}"
chmod +x "${script}"

opts=(--wait --parsable --job-name "${name}" --array "${first}-${last}" --output "${log//JOB/%a}")
[ "${nodes}" -gt 1 ] && opts+=(--nodes "${nodes}" --ntasks-per-node 1)
[ "${gpu}" -gt 0 ] && opts+=(--gres "gpu:${gpu}")
[ -n "${mem}" ] && opts+=(--mem "${mem}")
[ -n "${time_limit}" ] && opts+=(--time "${time_limit}")
# shellcheck disable=SC2086  # SLURM_EXTRA_OPTS: an options string, split into arguments on purpose
if ! sbatch "${opts[@]}" ${SLURM_EXTRA_OPTS:-} "${script}"; then
    echo "$0: slurm job array ${name} failed; logs: ${log//JOB/<index>}" >&2
    exit 1
fi
