"""run_all.py: which options reach a script, and how its stdout becomes a section."""

import run_all


def test_options_only_reach_scripts_that_take_them():
    full = "usage: x [--quick] [--device DEVICE] [--dtype {fp32,bf16}]"
    assert run_all.script_args(full, quick=True, device="cpu", dtype="fp32") == ["--quick"]
    assert run_all.script_args("usage: x", quick=True, device="cpu", dtype="fp32") == []
    assert run_all.script_args(full, False, "cuda", "bf16") == ["--device", "cuda", "--dtype", "bf16"]
    assert run_all.script_args("usage: x [--quick]", True, "cuda", "bf16") is None


def test_plain_output_is_kept_in_a_code_block():
    assert run_all.as_markdown("x", "## X\n\n| a |\n") == "## X\n\n| a |\n"
    assert run_all.as_markdown("x", "ratio 0.7\n") == "## bench/x.py\n\n```\nratio 0.7\n```\n"


def test_gpu_sections_get_their_own_files():
    assert run_all.section_file("scaling", "cpu", "fp32").name == "scaling.md"
    assert run_all.section_file("scaling", "cuda:0", "bf16").name == "scaling.cuda0.bf16.md"
    assert run_all.runs(["cuda"]) == [("cpu", "fp32"), ("cuda", "fp32"), ("cuda", "bf16")]


def test_gpu_part_says_which_sections_ran_on_a_gpu_and_includes_gpu_check(tmp_path, monkeypatch):
    monkeypatch.setattr(run_all, "GPU_CHECK", tmp_path / "gpu_check.md")
    cpu_only = run_all.gpu_note([tmp_path / "scaling.md"])
    assert "No per-script GPU sections" in cpu_only and "has not run on a GPU yet" in cpu_only
    run_all.GPU_CHECK.write_text("## GPU check (issue 20, `make gpu-check`)\n\n| a |\n")
    with_gpu = run_all.gpu_note([tmp_path / "scaling.md", tmp_path / "scaling.cuda.bf16.md"])
    assert "ran on a GPU" in with_gpu and with_gpu.endswith("## GPU check (issue 20, `make gpu-check`)\n\n| a |\n")
