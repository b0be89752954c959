"""bench/measure.py on the real paper-size Qieemo model built by EmotionTask."""

import sys

import benchlib


def test_measure_reports_time_memory_and_macs_of_qieemo():
    command = [
        sys.executable, str(benchlib.BENCH_DIR / "measure.py"), "--model", "qieemo",
        "--seconds", "0.5", "--warmup", "0", "--reps", "2", "--count-macs", "--threads", "1",
    ]  # fmt: skip
    result = benchlib.run_isolated(command, memory_cap_mib=8192, time_limit_s=600)
    assert result.failure is None, result.failure
    report = result.report
    assert report["source"].startswith("EmotionTask.build_model")
    assert len(report["times_s"]) == 2 and report["median_s"] == benchlib.median(report["times_s"])
    assert report["peak_rss_mib"] >= report["rss_before_mib"] > 0
    # 12 x 256 encoder: more than 10M weights, and every weight is used once per frame
    assert report["params"] > 10_000_000 and report["macs"] > report["params"]
