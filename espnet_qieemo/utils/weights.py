"""Model weights loaded as data: opening a checkpoint from elsewhere must not run its code.

``torch.load`` unpickles, and a pickle may call any function while it loads. With
``weights_only=True`` torch rebuilds only tensors and plain containers, which is all a model
file needs. ESPnet's own loaders (build_model_from_file, ``--init_param``, the trainer's resume
and n-best averaging) pass ``weights_only=False``; ``weights_only_loads`` overrides them.
"""

import datetime
import os
import pickle
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Union

import numpy as np
import torch

RESAVE = "torch.save(model.state_dict(), path)"
FORCE = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"  # read by torch.load on every call, wins over the argument
# Plain data that ESPnet's trainer keeps in checkpoint.pth besides tensors (its reporter's numpy
# scalars and timedeltas), allowed in a weights-only load.
CHECKPOINT_GLOBALS = [
    np._core.multiarray.scalar,
    np.dtype,
    np.dtypes.Float64DType,
    np.dtypes.Float32DType,
    np.dtypes.Int64DType,
    np.dtypes.Int32DType,
    np.dtypes.BoolDType,
    datetime.timedelta,
]


def read_state_dict(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, torch.Tensor]:
    """A state dict read with ``weights_only=True``; a file that needs more is refused, saying why."""
    try:
        with torch.serialization.safe_globals(CHECKPOINT_GLOBALS):
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        needs = f" (it needs {found.group(1)})" if found else ""
        raise ValueError(
            f"{path}: refused: the checkpoint holds pickled Python objects{needs}, and loading those can "
            "run code. A model file needs only its weights: where you trust it, load it once with "
            f"torch.load(path, weights_only=False) and re-save it as a plain state dict: {RESAVE}"
        ) from None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict but a {type(state).__name__}; re-save it with {RESAVE}")
    return state


@contextmanager
def weights_only_loads() -> Iterator[None]:
    """Every ``torch.load`` meanwhile is data-only, ``weights_only=False`` callers included;
    processes started meanwhile (DDP workers) inherit it."""
    saved = os.environ.get(FORCE)
    os.environ[FORCE] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(FORCE, None)
        else:
            os.environ[FORCE] = saved
