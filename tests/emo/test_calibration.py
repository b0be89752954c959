"""Temperature scaling and ECE on synthetic logits whose true temperature is known."""

import re

import numpy as np
import pytest

from espnet_qieemo.emo import calibration as cal


def synthetic(true_temperature: float, n: int = 20000, classes: int = 4, seed: int = 0):
    """Logits, and labels drawn from softmax(logits / T): T is the temperature that calibrates them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, size=(n, classes))
    probs = cal.tempered(logits, true_temperature)
    targets = (rng.random((n, 1)) > probs.cumsum(axis=1)).sum(axis=1)
    return logits, targets


def reference_ece(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> float:
    """Guo et al. (2017), bin by bin: bins (lo, hi] of equal width over the top probability."""
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    total = 0.0
    for i in range(n_bins):
        inside = (confidence > i / n_bins) & (confidence <= (i + 1) / n_bins)
        if inside.any():
            accuracy = (predicted[inside] == targets[inside]).mean()
            total += inside.mean() * abs(accuracy - confidence[inside].mean())
    return total


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_fit_recovers_a_known_temperature_and_lowers_ece(true_temperature):
    logits, targets = synthetic(true_temperature)
    fitted = cal.fit_temperature(logits, targets)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    assert cal.nll(logits, targets, fitted) < cal.nll(logits, targets)
    before = cal.expected_calibration_error(cal.tempered(logits, 1.0), targets)
    after = cal.expected_calibration_error(cal.tempered(logits, fitted), targets)
    assert after < 0.02 < before


def test_log_probabilities_fit_as_logits_do():
    logits, targets = synthetic(2.0, n=2000)
    probs = cal.tempered(logits, 1.0).astype(np.float32)  # what a model writes out
    assert cal.fit_temperature(cal.log_probs(probs), targets) == pytest.approx(
        cal.fit_temperature(logits, targets), rel=1e-4
    )


def test_separable_data_stop_at_the_lower_bound():
    logits = np.array([[4.0, 0.0], [0.0, 4.0]])
    assert cal.fit_temperature(logits, np.array([0, 1])) == pytest.approx(cal.TEMPERATURE_BOUNDS[0], rel=1e-4)


def test_ece_is_the_standard_15_bin_definition():
    probs = np.array([[0.9, 0.1], [0.58, 0.42], [0.55, 0.45], [0.2, 0.8]])
    # bins: 0.9 right (gap 0.1); 0.58 wrong + 0.55 right share (8/15, 9/15] (gap |0.5 - 0.565|); 0.8 right (gap 0.2)
    expected = (0.1 + 2 * 0.065 + 0.2) / 4
    assert cal.expected_calibration_error(probs, np.array([0, 1, 0, 1])) == pytest.approx(expected)
    logits, targets = synthetic(3.0, n=3000, classes=5, seed=1)
    probs = cal.tempered(logits, 1.0)
    assert cal.expected_calibration_error(probs, targets) == pytest.approx(reference_ece(probs, targets), abs=1e-12)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"expected \(N, C\) scores and N targets"):
        cal.fit_temperature(np.zeros((3, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"class indices in \[0, 4\)"):
        cal.nll(np.zeros((2, 4)), np.array([0, 4]))
    with pytest.raises(ValueError, match="must be finite"):
        cal.fit_temperature(np.array([[0.0, -np.inf]]), np.array([0]))


def test_calibration_file_round_trip_and_errors(tmp_path):
    path = cal.write_calibration(tmp_path / "calibration.yaml", 1.75, {"fitted_on": "dump/raw/fold1/valid"})
    assert cal.read_temperature(path) == 1.75
    for text, problem in (
        ("fitted_on: x\n", "expected a YAML mapping with a 'temperature' key"),
        ("temperature: -1\n", "key 'temperature': temperature must be a positive finite number, got -1"),
        ("temperature: .nan\n", "positive finite number, got nan"),
        ("temperature: warm\n", "positive finite number, got 'warm'"),
    ):
        path.write_text(text)
        with pytest.raises(ValueError, match=f"{re.escape(str(path))}: .*{re.escape(problem)}"):
            cal.read_temperature(path)
    with pytest.raises(ValueError, match="positive finite"):
        cal.write_calibration(tmp_path / "other.yaml", 0.0, {})
    assert not (tmp_path / "other.yaml").exists()
