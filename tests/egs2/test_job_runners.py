"""The recipe's job runners (utils/run_local.sh, utils/run_slurm.sh) behind cmd.sh."""

import os
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
for ((i = ${range%-*}; i <= ${range#*-}; i++)); do
    SLURM_ARRAY_TASK_ID=$i bash "$script" > "${out//%a/$i}" 2>&1 || rc=1
done
exit $rc
"""


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
