"""Checkpoints are read as data: a pickle that would run code is refused, and says how to re-save."""

import datetime
import os
import pickle

import numpy as np
import pytest
import torch
from hostile_models import code_running_checkpoint

from espnet_qieemo.utils.weights import FORCE, read_state_dict, weights_only_loads


def test_plain_state_dict_loads(tmp_path):
    torch.save({"encoder.w": torch.arange(3.0)}, tmp_path / "ok.pth")
    assert torch.equal(read_state_dict(tmp_path / "ok.pth")["encoder.w"], torch.arange(3.0))


def test_espnet_trainer_checkpoint_loads_as_data(tmp_path):
    """checkpoint.pth: the model under "model", and a reporter holding numpy scalars and timedeltas."""
    reporter = {"stats": {1: {"train": {"loss": np.float64(0.5), "time": datetime.timedelta(seconds=3)}}}}
    torch.save({"model": {"encoder.w": torch.ones(2)}, "reporter": reporter}, tmp_path / "checkpoint.pth")
    state = read_state_dict(tmp_path / "checkpoint.pth")
    assert torch.equal(state["model"]["encoder.w"], torch.ones(2)) and state["reporter"] == reporter


def test_checkpoint_whose_pickle_runs_code_is_refused_unrun(tmp_path):
    marker = tmp_path / "ran"
    evil = code_running_checkpoint(tmp_path / "evil.pth", marker, {"encoder.w": torch.zeros(2)})
    with pytest.raises(ValueError) as err:
        read_state_dict(evil)
    message = str(err.value)
    assert str(evil) in message and "pickled Python objects" in message and "exec" in message
    assert "torch.save(model.state_dict(), path)" in message
    assert not marker.exists()


def test_whole_pickled_model_is_refused(tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pth")
    with pytest.raises(ValueError, match="pickled Python objects"):
        read_state_dict(tmp_path / "module.pth")


def test_a_tensor_is_not_a_state_dict(tmp_path):
    torch.save(torch.zeros(2), tmp_path / "t.pth")
    with pytest.raises(ValueError, match="not a state dict but a Tensor"):
        read_state_dict(tmp_path / "t.pth")


def test_loaders_that_ask_for_pickle_get_data_only(tmp_path, monkeypatch):
    """What ESPnet's resume, averaging and --init_param do (weights_only=False) inside emo_train."""
    monkeypatch.delenv(FORCE, raising=False)
    marker = tmp_path / "ran"
    evil = code_running_checkpoint(tmp_path / "evil.pth", marker)
    with weights_only_loads():
        with pytest.raises(pickle.UnpicklingError):
            torch.load(evil, weights_only=False)
    assert not marker.exists() and FORCE not in os.environ
