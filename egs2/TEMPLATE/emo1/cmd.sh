# shellcheck shell=bash
# Job runners for the stages (Kaldi's cmd.sh convention); choose with CMD_BACKEND=local|slurm.
#   train_cmd: CPU jobs (stats, data formatting); cuda_cmd: training (gets --gpu <ngpu>);
#   decode_cmd: decoding / inference.
# Slurm: partition, account etc. go in SLURM_EXTRA_OPTS, e.g. "--partition=gpu --account=me".
cmd_backend="${CMD_BACKEND:-local}"
# shellcheck disable=SC2034  # train_cmd, cuda_cmd, decode_cmd: read by the scripts sourcing this file
case "${cmd_backend}" in
    local)
        train_cmd="utils/run_local.sh"
        cuda_cmd="utils/run_local.sh"
        decode_cmd="utils/run_local.sh"
        ;;
    slurm)
        train_cmd="utils/run_slurm.sh --mem 8G --time 12:00:00"
        cuda_cmd="utils/run_slurm.sh --mem 32G --time 72:00:00"
        decode_cmd="utils/run_slurm.sh --mem 8G --time 12:00:00"
        ;;
    *)
        echo "cmd.sh: CMD_BACKEND=${cmd_backend}: expected local or slurm" >&2
        return 1
        ;;
esac
