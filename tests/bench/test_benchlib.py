"""The measurement helpers behind bench/RESULTS.md: MAC counts, RTF arithmetic, memory cap."""

import argparse
import sys

import benchlib
import pytest
import torch


def test_macs_of_linear_match_hand_count():
    layer = torch.nn.Linear(7, 5)
    x = torch.randn(3, 7)
    assert benchlib.count_macs(lambda: layer(x)) == 3 * 7 * 5


def test_macs_of_conv_match_hand_count():
    conv = torch.nn.Conv1d(2, 4, kernel_size=3, stride=2, bias=False)
    x = torch.randn(2, 2, 11)  # output length (11 - 3) // 2 + 1 = 5
    assert benchlib.count_macs(lambda: conv(x)) == 2 * 5 * 4 * 2 * 3


def test_macs_add_up_over_layers():
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2))
    x = torch.randn(5, 4)
    assert benchlib.count_macs(lambda: model(x)) == 5 * 4 * 6 + 5 * 6 * 2


def test_real_time_factor_and_throughput():
    # a batch of 4 clips of 10 s processed in 2 s: 40 s of audio in 2 s
    assert benchlib.real_time_factor(2.0, 10.0, 4) == pytest.approx(0.05)
    assert benchlib.utterances_per_second(2.0, 4) == pytest.approx(2.0)
    assert benchlib.median([3.0, 1.0, 2.0, 10.0]) == pytest.approx(2.5)
    with pytest.raises(ValueError):
        benchlib.median([])


def test_time_calls_runs_warmup_untimed():
    calls = []
    times = benchlib.time_calls(lambda: calls.append(1), warmup=2, reps=3)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_ratio_and_format():
    assert benchlib.ratio(10.0, 2.0) == "5.00×"
    assert benchlib.ratio(None, 2.0) == "-" and benchlib.ratio(1.0, 0) == "-"
    assert benchlib.fmt(0.012345) == "0.0123" and benchlib.fmt(12345.6) == "12,346"
    assert benchlib.table(["a", "b"], [["1", "2"]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]


def test_rss_of_this_process():
    rss, peak = benchlib.rss_mib(), benchlib.rss_mib(key="VmHWM")
    assert 10 < rss <= peak


def run_child(code: str, cap_mib: float, limit_s: float = 60) -> benchlib.IsolatedResult:
    return benchlib.run_isolated([sys.executable, "-c", code], cap_mib, limit_s)


def test_isolated_run_reads_report():
    result = run_child("import json; print('log'); print(json.dumps({'x': 1}))", cap_mib=4096)
    assert result.failure is None and result.report == {"x": 1}


def test_isolated_run_stops_at_memory_cap():
    # touches 600 MiB, well above a 300 MiB cap: must be stopped and reported, not crash
    code = "import time; b = bytearray(600 * 2**20); time.sleep(30)"
    result = run_child(code, cap_mib=300)
    assert result.report is None and result.failure.startswith("over memory cap")
    assert result.watched_peak_mib > 300


def test_isolated_run_stops_at_time_limit_and_reports_errors():
    assert run_child("import time; time.sleep(30)", 4096, limit_s=1).failure.startswith("over time limit")
    failed = run_child("raise SystemExit('bad input')", 4096)
    assert failed.report is None and "bad input" in failed.failure
    assert "no JSON" in run_child("print('not json')", 4096).failure


def test_a_stopped_bench_runs_nothing_more():
    opts = argparse.Namespace(stopped=True)
    result = benchlib.measure(opts, "qieemo", 1.0, 1)
    assert result.report is None and result.failure == benchlib.STOPPED and not result.command
