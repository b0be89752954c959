"""The recipe's job runners (utils/run_local.sh, utils/run_slurm.sh) behind cmd.sh."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

UTILS = Path(__file__).resolve().parents[2] / "egs2" / "TEMPLATE" / "emo1" / "utils"

# Stands in for Slurm's sbatch: records its options, runs each array task like Slurm would.
FAKE_SBATCH = r"""#!/usr/bin/env bash
echo "$@" >> "$(dirname "$0")/sbatch.args"
while [[ $# -gt 1 ]]; do
    case "$1" in
        --array) range="$2"; shift 2 ;;
        --output) out="$2"; shift 2 ;;
        --wait|--parsable|--partition=*) shift ;;
        *) shift 2 ;;
    esac
done
script="$1"; rc=0
export SLURM_JOB_ID=4242 SLURM_JOB_NODELIST="gpu-node[07-08]"
for ((i = ${range%-*}; i <= ${range#*-}; i++)); do
    SLURM_ARRAY_TASK_ID=$i bash "$script" > "${out//%a/$i}" 2>&1 || rc=1
done
exit $rc
"""


# Stands in for srun inside the job: records its options and, per node, the task's command and
# the environment ESPnet reads; runs the task once per node (as node i of N) if FAKE_SRUN_RUN=1.
FAKE_SRUN = r"""#!/usr/bin/env bash
echo "$@" >> "$(dirname "$0")/srun.args"
while [[ "$1" == --* ]]; do
    case "$1" in
        --nodes) nodes="$2"; shift 2 ;;
        --ntasks-per-node) shift 2 ;;
        *) shift ;;
    esac
done
rc=0
for ((i = 0; i < nodes; i++)); do
    if [ "${FAKE_SRUN_RUN:-0}" = 1 ]; then
        SLURM_NNODES=$nodes SLURM_NODEID=$i SLURM_PROCID=$i "$@" || rc=1
    else
        # the task's own wrapper (bash -c '... exec "$@"' srun-task) exec's a recorder, not the command
        record='echo "$RANK $WORLD_SIZE $MASTER_ADDR $MASTER_PORT | $*" >> "$0"'
        SLURM_NNODES=$nodes SLURM_NODEID=$i SLURM_PROCID=$i \
            "${@:1:4}" bash -c "$record" "$(dirname "$0")/srun.tasks" "${@:5}" || rc=1
    fi
done
exit $rc
"""
FAKE_SCONTROL = r"""#!/usr/bin/env bash
[ "$1 $2 $3" = "show hostnames gpu-node[07-08]" ] && printf 'gpu-node07\ngpu-node08\n'
"""


def fake_slurm(tmp_path):
    """A bin dir with fake sbatch, srun and scontrol, and the environment that puts it first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IEXEC)
    return bin_dir, {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_EXTRA_OPTS": "--partition=gpu"}


def run(args, cwd, env=None):
    return subprocess.run(
        args, cwd=cwd, env={**os.environ, **(env or {})}, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def test_local_runner_expands_job_and_reports_the_failed_one(tmp_path):
    ok = run(
        [
            str(UTILS / "run_local.sh"),
            "--gpu",
            "0",
            "JOB=1:3",
            "log/job.JOB.log",
            "bash",
            "-c",
            "echo task JOB > out.JOB",
        ],
        tmp_path,
    )
    assert ok.returncode == 0, ok.stdout
    assert [(tmp_path / f"out.{j}").read_text() for j in (1, 2, 3)] == [f"task {j}\n" for j in (1, 2, 3)]
    assert "with exit status 0" in (tmp_path / "log/job.2.log").read_text()
    bad = run(
        [str(UTILS / "run_local.sh"), "JOB=1:2", "log/bad.JOB.log", "bash", "-c", "echo oops; exit $((JOB - 1))"],
        tmp_path,
    )
    assert (
        bad.returncode == 1 and "1 of 2 job(s) failed (job 2); see log/bad.2.log" in bad.stdout and "oops" in bad.stdout
    )


def test_slurm_runner_submits_an_array_with_resources(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(FAKE_SBATCH)
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_EXTRA_OPTS": "--partition=gpu"}
    proc = run(
        [
            str(UTILS / "run_slurm.sh"),
            "--gpu",
            "2",
            "--mem",
            "8G",
            "JOB=1:2",
            "exp/log/train.JOB.log",
            "bash",
            "-c",
            "echo trained JOB > 'model JOB.txt'",
        ],
        tmp_path,
        env,
    )
    assert proc.returncode == 0, proc.stdout
    assert [(tmp_path / f"model {j}.txt").read_text() for j in (1, 2)] == ["trained 1\n", "trained 2\n"]
    args = (bin_dir / "sbatch.args").read_text()
    assert "--array 1-2" in args and "--gres gpu:2" in args and "--mem 8G" in args and "--partition=gpu" in args
    assert "--output exp/log/train.%a.log" in args
    failing = run([str(UTILS / "run_slurm.sh"), "exp/log/x.log", "false"], tmp_path, env)
    assert failing.returncode == 1 and "slurm job array emo failed" in failing.stdout


def test_slurm_runner_starts_one_rank_per_node_with_master_and_port(tmp_path):
    bin_dir, env = fake_slurm(tmp_path)
    proc = run(
        [
            str(UTILS / "run_slurm.sh"),
            "--gpu",
            "4",
            "--nodes",
            "2",
            "exp/log/train.log",
            "bash",
            "-c",
            'echo "$RANK $WORLD_SIZE $MASTER_ADDR $MASTER_PORT" > "rank.$RANK"',
        ],
        tmp_path,
        {**env, "FAKE_SRUN_RUN": "1"},
    )
    assert proc.returncode == 0, proc.stdout + (tmp_path / "exp/log/train.log").read_text()
    sbatch = (bin_dir / "sbatch.args").read_text()
    assert "--nodes 2 --ntasks-per-node 1" in sbatch and "--gres gpu:4" in sbatch  # 4 GPUs on each node
    assert (bin_dir / "srun.args").read_text().startswith("--nodes 2 --ntasks-per-node 1 ")
    # rank = node id, world = nodes, master = first node of the job, port from the job id (4242)
    assert [(tmp_path / f"rank.{r}").read_text() for r in (0, 1)] == [f"{r} 2 gpu-node07 24242\n" for r in (0, 1)]


def test_recipe_trains_on_two_slurm_nodes_with_espnet_ddp(tmp_path):
    """emo.sh stage 9 with --ngpu 4 --num_nodes 2 under CMD_BACKEND=slurm: the command that each
    node's srun task would run, and its environment (the fake srun records instead of training)."""
    bin_dir, env = fake_slurm(tmp_path)
    egs2 = UTILS.parents[2]
    (tmp_path / "egs2").mkdir()
    (tmp_path / "egs2" / "TEMPLATE").symlink_to(egs2 / "TEMPLATE")
    recipe = tmp_path / "egs2" / "iemocap_qieemo" / "emo1"
    shutil.copytree(
        egs2 / "iemocap_qieemo" / "emo1", recipe, symlinks=True, ignore=shutil.ignore_patterns("data", "dump", "exp")
    )
    args = ["./run.sh", "--stage", "9", "--stop_stage", "9", "--folds", "1", "--use_asr_init", "false"]
    proc = run([*args, "--ngpu", "4", "--num_nodes", "2"], recipe, {**env, "CMD_BACKEND": "slurm"})
    assert proc.returncode == 0, proc.stdout
    sbatch = (bin_dir / "sbatch.args").read_text()
    assert "--nodes 2 --ntasks-per-node 1" in sbatch and "--gres gpu:4" in sbatch and "--partition=gpu" in sbatch
    tasks = (bin_dir / "srun.tasks").read_text().splitlines()
    assert len(tasks) == 2
    for rank, line in enumerate(tasks):
        environment, command = line.split(" | ")
        assert environment == f"{rank} 2 gpu-node07 24242"
        assert command.startswith("python -m espnet_qieemo.bin.emo_train --ngpu 4 --multiprocessing_distributed true ")
        assert "--resume true" in command and "--output_dir exp/emo_train_emo_qieemo/fold1" in command
    # several nodes need the cluster backend
    local = run([*args, "--ngpu", "4", "--num_nodes", "2"], recipe, {"CMD_BACKEND": "local"})
    assert local.returncode != 0 and "multi-node training needs CMD_BACKEND=slurm" in local.stdout
