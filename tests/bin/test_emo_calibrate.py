"""`emo_calibrate` on the shipped default model's weights: the temperature is fitted, stored in the
packed model and applied on loading; a model without one loads as before; the shipped model
carries its own."""

import zipfile

import numpy as np
import pytest
import yaml

from espnet_qieemo.bin import emo_calibrate, emo_pack, qieemo_cli
from espnet_qieemo.bin.emo_inference import Speech2Emotion
from espnet_qieemo.emo import calibration as cal
from espnet_qieemo.utils import audio
from espnet_qieemo.utils.safe_unpack import model_files


@pytest.fixture(scope="module")
def shipped(uncalibrated_model):
    """The shipped weights at temperature 1."""
    return Speech2Emotion.from_pretrained(uncalibrated_model)


def probs_of(s2e, waves) -> np.ndarray:
    return np.array([[r.probs[c] for c in s2e.labels] for r in s2e(waves)])


def test_fitted_temperature_is_stored_reported_and_applied(calibrated_model, shipped, data_root):
    stored = yaml.safe_load(calibrated_model.calibration.read_text())
    temperature = stored["temperature"]
    assert cal.TEMPERATURE_BOUNDS[0] < temperature < cal.TEMPERATURE_BOUNDS[1] and abs(temperature - 1.0) > 0.05
    assert stored["fitted_on"] == str(calibrated_model.data_dir) and stored["utterances"] == 20
    # The fit minimises NLL on these clips; ECE is only reported (on 20 clips it need not fall: that
    # it does on miscalibrated logits is tests/emo/test_calibration.py's job).
    assert stored["nll_after"] < stored["nll_before"]
    assert 0.0 <= stored["ece_after"] <= 1.0 and 0.0 <= stored["ece_before"] <= 1.0
    assert f"temperature: {temperature:.4f}" in calibrated_model.report
    assert f"| {calibrated_model.data_dir} (fitted) | 20 |" in calibrated_model.report
    with zipfile.ZipFile(calibrated_model.packed) as zf:
        meta = yaml.safe_load(zf.read("meta.yaml"))
        assert meta["files"]["calibration"] == "exp/emo/calibration.yaml"
        assert yaml.safe_load(zf.read("exp/emo/calibration.yaml")) == stored
    calibrated = Speech2Emotion.from_pretrained(calibrated_model.packed)
    assert calibrated.temperature == temperature and shipped.temperature == 1.0
    waves = [audio.load(data_root / "emodb" / "wav" / f"{n}.wav") for n in ("10a01Wa", "11a02Tc", "13a01Nb")]
    before, after = probs_of(shipped, waves), probs_of(calibrated, waves)
    np.testing.assert_allclose(after, cal.tempered(np.log(before), temperature), atol=1e-5)
    assert (after.argmax(axis=1) == before.argmax(axis=1)).all()
    assert (after.max() < before.max()) == (temperature > 1.0)  # T > 1 softens, T < 1 sharpens


def test_a_model_without_temperature_loads_as_before(uncalibrated_model, shipped, data_root):
    assert "calibration" not in yaml.safe_load(zipfile.ZipFile(uncalibrated_model).read("meta.yaml"))["files"]
    wave = audio.load(data_root / "emodb" / "wav" / "12a01Fb.wav")
    explicit = Speech2Emotion.from_pretrained(uncalibrated_model, temperature=1.0)
    np.testing.assert_array_equal(probs_of(shipped, [wave]), probs_of(explicit, [wave]))


def test_the_shipped_default_model_applies_its_own_temperature(shipped, data_root):
    with zipfile.ZipFile(qieemo_cli.SHIPPED_MODEL) as zf:
        meta = yaml.safe_load(zf.read("meta.yaml"))
        stored = yaml.safe_load(zf.read(meta["files"]["calibration"]))
    default = Speech2Emotion.from_pretrained(qieemo_cli.SHIPPED_MODEL)
    assert default.temperature == stored["temperature"] != 1.0
    assert stored["fitted_on"].endswith("all/valid")  # its own validation speakers, never a test set
    waves = [audio.load(data_root / "emodb" / "wav" / "12a01Fb.wav")]
    expected = cal.tempered(np.log(probs_of(shipped, waves)), stored["temperature"])
    np.testing.assert_allclose(probs_of(default, waves), expected, atol=1e-5)


def test_recalibrating_ignores_the_stored_temperature(calibrated_model, tmp_path, capsys):
    out = tmp_path / "calibration.yaml"
    emo_calibrate.main(
        ["--model_tag", str(calibrated_model.packed), "--data_dir", str(calibrated_model.data_dir)]
        + ["--eval_dir", str(calibrated_model.data_dir), "--output_file", str(out)]
    )
    assert cal.read_temperature(out) == pytest.approx(cal.read_temperature(calibrated_model.calibration), rel=1e-6)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"| {calibrated_model.data_dir}")]
    assert len(rows) == 2 and rows[0].split("|")[2:] == rows[1].split("|")[2:]  # fitted set, then scored again


def test_labels_outside_the_model_and_bad_calibration_files_are_named(calibrated_model, tmp_path):
    bad = tmp_path / "valid"
    bad.mkdir()
    (bad / "wav.scp").write_text((calibrated_model.data_dir / "wav.scp").read_text())
    (bad / "emotion").write_text("03a01Fa hap\n03a01Wa angry\n")
    with pytest.raises(SystemExit, match=r"emotion:2: utterance '03a01Wa': emotion label 'angry' is not in"):
        emo_calibrate.main(["--model_tag", str(qieemo_cli.SHIPPED_MODEL), "--data_dir", str(bad)])
    files = model_files(qieemo_cli.SHIPPED_MODEL, tmp_path / "unpacked")
    (tmp_path / "calibration.yaml").write_text("temperature: 0\n")
    with pytest.raises(SystemExit, match="calibration.yaml: key 'temperature': temperature must be a positive"):
        emo_pack.main(
            ["--train_config", files["train_config"], "--model_file", files["model_file"]]
            + ["--calibration", str(tmp_path / "calibration.yaml"), "--outpath", str(tmp_path / "out.zip")]
        )
    assert not (tmp_path / "out.zip").exists()
