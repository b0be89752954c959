"""gpu_check.py: its CPU smoke form end to end, and that it never passes for the GPU section."""

import gpu_check
import pytest
import run_all
import torch

# A test file with `cuda` tests, so the smoke form's pytest run has some to select.
CUDA_TESTS = "tests/asr/encoder/test_efficient_conformer_encoder.py"


def stored(path):
    return path.read_bytes() if path.is_file() else None


def test_cpu_smoke_form_times_every_case_and_marks_its_section(tmp_path, capsys):
    gpu_section, results = stored(run_all.GPU_CHECK), stored(run_all.RESULTS)
    out = tmp_path / "smoke.md"
    assert gpu_check.main(["--cpu-smoke", "--out", str(out), "--tests", CUDA_TESTS]) == 0
    text = out.read_text()
    assert text.startswith("## GPU check: CPU smoke form, not GPU figures\n")
    assert text in capsys.readouterr().out
    assert "device `cpu`" in text and f"torch {torch.__version__}" in text
    tests_verdict = "passed" if torch.cuda.is_available() else "every `cuda` test was deselected"
    assert tests_verdict in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and " s / step" not in line]
    assert [(r[0], r[3]) for r in rows] == [
        ("| ASR training", "fp32"), ("| ASR training", "bf16"),
        *[("| emotion fine-tuning", d) for d in ("fp32", "fp32", "bf16", "bf16")],
        *[("| batched inference", d) for d in ("fp32", "fp32", "bf16", "bf16")],
    ]  # fmt: skip
    for r in rows:
        assert r[5].endswith(" s") and float(r[5][:-2]) > 0, r  # every case ran
        assert r[-1] == "1 |", r  # one timed step
    assert float(rows[0][2].rstrip("M")) > 40, "the paper-size ASR model (46.8M at 5000 tokens)"
    bf16_speed_up, vs_w2v2, peak = 8, 9, 10
    assert rows[1][bf16_speed_up].endswith("×") and rows[1][vs_w2v2] == "-"  # ASR bf16: against its fp32 row
    assert rows[2][bf16_speed_up] == "-" and rows[2][vs_w2v2].endswith("×")  # Qieemo fp32: against wav2vec 2.0
    assert rows[3][vs_w2v2] == "1.00×" and all(r[peak] == "-" for r in rows)  # no CUDA memory on the CPU
    assert stored(run_all.GPU_CHECK) == gpu_section and stored(run_all.RESULTS) == results


def test_cpu_smoke_form_never_writes_the_gpu_section():
    with pytest.raises(SystemExit):
        gpu_check.main(["--cpu-smoke", "--out", str(run_all.GPU_CHECK)])


def test_gpu_batch_fills_the_asr_configs_batch_bins_as_espnet_counts_it():
    clips = gpu_check.asr_clips(gpu_check.GPU, batch_bins=16_000_000)
    assert len(clips) == 66 and clips[0] == 15.0 and clips[-1] == 3.0  # 66 x 15 s x 16 kHz <= 16M
    assert clips == sorted(clips, reverse=True)
    speech, lens, (text, text_lens) = gpu_check.asr_batch([2.0, 1.0], vocab=10, device="cpu")
    assert speech.shape == (2, 32000) and lens.tolist() == [32000, 16000] and not speech[1, 16000:].any()
    assert text_lens.tolist() == [6, 3] and (text[1, 3:] == -1).all()
    assert ((text[text >= 0] >= 1) & (text[text >= 0] <= 8)).all()  # neither <blank> (0) nor <sos/eos> (9)
