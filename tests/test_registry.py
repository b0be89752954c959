"""``import espnet_qieemo`` is light, and ESPnet's ASR task knows the encoder whichever is imported first."""

import subprocess
import sys

import pytest


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)


def test_import_loads_neither_torch_nor_espnet():
    out = run("import sys, espnet_qieemo; print([m for m in ('torch', 'espnet', 'espnet2') if m in sys.modules])")
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("plugin_first", [True, False])
def test_espnet_asr_task_knows_the_encoder(plugin_first):
    imports = ["import espnet_qieemo", "from espnet2.tasks.asr import ASRTask"]
    code = "; ".join(
        [
            *(imports if plugin_first else imports[::-1]),
            "from espnet2.tasks.asr import encoder_choices",
            "print(encoder_choices.get_class('efficient_conformer').__module__)",
        ]
    )
    lines = run(code).stdout.splitlines()
    assert lines[-1] == "espnet_qieemo.asr.encoder.efficient_conformer_encoder"
    if plugin_first:  # the plugin's hook imports ESPnet quietly: notices and nltk go to stderr
        assert len(lines) == 1
