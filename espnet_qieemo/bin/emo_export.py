"""Export an emotion model to one self-contained ONNX file for ONNX Runtime.

Graph: inputs ``feats`` (batch, frames, n_mels) float32 log-mel features, zero-padded, and
``feats_lengths`` (batch,) int64; output ``probs`` (batch, classes). Batch and frames are
dynamic axes. The graph holds the feature normalisation, encoder, block fusion, cross-modal
attention, pooling, head and softmax. The log-mel frontend is not in the graph (its
per-utterance reflection padding does not trace); ``espnet_qieemo.ort_backend.LogMelFrontend``
computes it in numpy from constants stored in the file's metadata (window, mel matrix, hop),
and a test checks it equals ESPnet's frontend. The metadata (key ``qieemo``) also holds the
labels, sample rate, shortest and longest input, the calibration temperature (already applied
by the graph's softmax, as ``Speech2Emotion`` applies it), so deployment needs the .onnx file,
numpy, threadpoolctl and onnxruntime, and neither torch nor ESPnet.

How the time axis is dynamic: a traced graph keeps the encoder's Python-level shape
arithmetic (stride and group padding, chunking, rate alignment) as constants, so one traced
graph is only right for the frame count it was traced at. The encoder masks padding exactly,
so a graph traced at F frames is right for every utterance of at most F frames padded to F.
The export therefore traces one graph per length bucket (1, 1.5, 2.25, ... seconds, each
``bucket_growth`` times the last, up to ``max_seconds``), each with a dynamic batch axis,
and joins them in one model: the input is padded to the smallest bucket that holds it and
an ``If`` chain runs that bucket's graph. Weights and large constants are stored once and
shared by the buckets. Inputs longer than the last bucket are cut to it
(``OnnxSpeech2Emotion`` refuses them instead).

``quantize="int8"``: ONNX Runtime dynamic quantization (int8 weights, activations quantized
per batch at run time) of the MatMul nodes (every linear layer: feed-forward, attention
projections, MMF, CMA, head) of every bucket graph before they are joined; convolutions
stay fp32 (quantizing them too moved labels: see ``bench/int8_agreement.py``).
"""

import hashlib
import json
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from espnet_qieemo.asr.encoder.block_outputs import BlockOutputCollector
from espnet_qieemo.bin.emo_inference import Speech2Emotion
from espnet_qieemo.ort_backend import METADATA_KEY
from espnet_qieemo.utils import chunking
from espnet_qieemo.utils.fileio import atomic_write
from espnet_qieemo.utils.long_frontend import utterance_feats


class FeatsToProbs(torch.nn.Module):
    """The model after its frontend, with the tempered softmax (``Speech2Emotion``'s temperature),
    as one traceable module."""

    def __init__(self, model: torch.nn.Module, temperature: float = 1.0) -> None:
        super().__init__()
        self.model, self.temperature = model, temperature

    def forward(self, feats: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        m = self.model
        if m.normalize is not None:
            feats, lens = m.normalize(feats, lens)
        with BlockOutputCollector(m.encoder) as collector:
            enc, enc_lens, _ = m.encoder(feats, lens)
        if isinstance(enc, tuple):
            enc = enc[0]
        return torch.softmax(m.classify_blocks(enc, enc_lens, collector.outputs) / self.temperature, dim=-1)


def features(s2e: Speech2Emotion, wave) -> torch.Tensor:
    """ESPnet's frontend features (1, frames, n_mels) of one model-ready waveform."""
    speech = torch.as_tensor(wave, dtype=torch.float32).unsqueeze(0)
    with torch.no_grad():
        feats, _ = utterance_feats(s2e.model.frontend, speech, torch.tensor([speech.size(1)]))
    return feats


def frontend_constants(s2e: Speech2Emotion) -> dict:
    """What ``LogMelFrontend`` needs, read from the model's ESPnet ``DefaultFrontend``."""
    fe = s2e.model.frontend
    stft, logmel = getattr(fe, "stft", None), getattr(fe, "logmel", None)
    supported = (
        stft is not None
        and logmel is not None
        and stft.center
        and not stft.normalized
        and stft.onesided
        and stft.window == "hann"
        and getattr(logmel, "log_base", None) is None
        and type(fe).__name__ == "DefaultFrontend"
    )
    if not supported:
        raise ValueError(f"export supports ESPnet's DefaultFrontend (centred hann STFT, natural log), not {fe}")
    window = torch.hann_window(stft.win_length or stft.n_fft, dtype=torch.float64)
    return {
        "n_fft": stft.n_fft,
        "hop_length": stft.hop_length,
        "window": window.tolist(),
        "melmat": logmel.melmat.double().tolist(),
    }


def bucket_seconds(max_seconds: float, growth: float = 1.5) -> List[float]:
    """1, 1.5, 2.25, ... seconds (each ``growth`` times the last), the last one ``max_seconds``:
    an input is padded by less than ``growth`` - 1 of its length."""
    if growth <= 1:
        raise ValueError(f"bucket growth must be > 1, not {growth}")
    buckets, s = [], 1.0
    while s < max_seconds:
        buckets.append(round(s, 3))
        s *= growth
    return buckets + [float(max_seconds)]


def _trace(module: torch.nn.Module, frames: int, n_mels: int, path: Path, opset: int) -> None:
    feats = torch.randn(2, frames, n_mels)
    lens = torch.tensor([frames, max(frames // 2, 1)])
    with torch.no_grad():
        torch.onnx.export(
            module,
            (feats, lens),
            str(path),
            input_names=["feats", "feats_lengths"],
            output_names=["probs"],
            opset_version=opset,
            dynamo=False,
            dynamic_axes={"feats": {0: "batch"}, "feats_lengths": {0: "batch"}, "probs": {0: "batch"}},
        )


@contextmanager
def _single_chunk():
    """Trace the unchunked paths: the chunk boundaries of ``utils.chunking`` are computed from the
    traced batch and length and would be frozen into the graph, which then is not exact for
    shorter (padded) inputs; one chunk is. Memory of long buckets grows accordingly."""
    saved = chunking.SCORE_BUDGET
    chunking.SCORE_BUDGET = 1 << 62
    try:
        yield
    finally:
        chunking.SCORE_BUDGET = saved


def _quantize_int8(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMul only: with the convolutions (input subsampling, conformer conv modules) quantized
    # too, the demo's fold-1 model changed 7 % of its test labels; with them in fp32, none.
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])


def _bucket_branch(graph: onnx.GraphProto, tag: str, frames: int, shared: Dict[str, str], weights: list):
    """A bucket's graph as an ``If`` branch: pad/cut ``feats`` to ``frames``, rename its values
    with ``tag``, move its initializers to the outer graph (identical tensors once)."""
    rename = {"feats_lengths": "feats_lengths_in_range", "probs": f"{tag}/probs"}
    for init in graph.initializer:
        digest = hashlib.sha1(init.SerializeToString().replace(init.name.encode(), b"")).hexdigest()
        if digest not in shared:
            shared[digest] = f"w{len(shared)}"
            tensor = onnx.TensorProto()
            tensor.CopyFrom(init)
            tensor.name = shared[digest]
            weights.append(tensor)
        rename[init.name] = shared[digest]
    rename["feats"] = f"{tag}/feats"
    const = numpy_helper.from_array
    nodes = [
        helper.make_node("Constant", [], [f"{tag}/F"], value=const(np.array([frames], np.int64))),
        helper.make_node("Constant", [], [f"{tag}/zero"], value=const(np.array([0], np.int64))),
        helper.make_node("Constant", [], [f"{tag}/axis1"], value=const(np.array([1], np.int64))),
        helper.make_node("Slice", ["feats", f"{tag}/zero", f"{tag}/F", f"{tag}/axis1"], [f"{tag}/cut"]),
        helper.make_node("Sub", [f"{tag}/F", "frames"], [f"{tag}/short"]),
        helper.make_node("Max", [f"{tag}/short", f"{tag}/zero"], [f"{tag}/extra"]),
        helper.make_node(
            "Concat",
            [f"{tag}/zero", f"{tag}/zero", f"{tag}/zero", f"{tag}/zero", f"{tag}/extra", f"{tag}/zero"],
            [f"{tag}/pads"],
            axis=0,
        ),
        helper.make_node("Pad", [f"{tag}/cut", f"{tag}/pads"], [f"{tag}/feats"], mode="constant"),
        helper.make_node("Min", ["feats_lengths", f"{tag}/F"], [f"{tag}/lengths"]),
    ]
    rename["feats_lengths"] = f"{tag}/lengths"

    def name(n: str) -> str:
        if not n:
            return n
        return rename.get(n, f"{tag}/{n}")

    for index, node in enumerate(graph.node):
        if node.op_type == "Constant" and node.attribute[0].name == "value" and node.attribute[0].t.ByteSize() > 4096:
            # large constants (the positional-encoding table) are the same in every bucket: share them
            tensor = onnx.TensorProto()
            tensor.CopyFrom(node.attribute[0].t)
            tensor.name = ""
            digest = hashlib.sha1(tensor.SerializeToString()).hexdigest()
            if digest not in shared:
                shared[digest] = f"w{len(shared)}"
                tensor.name = shared[digest]
                weights.append(tensor)
            rename[node.output[0]] = shared[digest]
            continue
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = f"{tag}/{index}/{node.name}"
        copy.input[:] = [name(n) for n in node.input]
        copy.output[:] = [name(n) for n in node.output]
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise ValueError(f"unexpected subgraph in exported node {node.op_type}")
        nodes.append(copy)
    out = helper.make_tensor_value_info(f"{tag}/probs", TensorProto.FLOAT, None)
    return helper.make_graph(nodes, f"{tag}_graph", [], [out])


def join_buckets(models: List[onnx.ModelProto], frames: List[int], n_mels: int, classes: int) -> onnx.ModelProto:
    """One model: pad to the smallest bucket that holds the input, run that bucket's graph."""
    shared: Dict[str, str] = {}
    weights: list = []
    branches = [_bucket_branch(m.graph, f"b{i}", f, shared, weights) for i, (m, f) in enumerate(zip(models, frames))]
    nodes = [
        helper.make_node("Shape", ["feats"], ["feats_shape"]),
        helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(np.array([1], np.int64))),
        helper.make_node("Constant", [], ["two"], value=numpy_helper.from_array(np.array([2], np.int64))),
        helper.make_node("Slice", ["feats_shape", "one", "two"], ["frames"]),
    ]
    # else-branch of bucket i is the If of bucket i + 1; the last bucket runs unconditionally
    current = branches[-1]
    for i in range(len(branches) - 2, -1, -1):
        cond = f"fits{i}"
        limit = numpy_helper.from_array(np.array([frames[i]], np.int64))
        inner = [
            helper.make_node("Constant", [], [f"limit{i}"], value=limit),
            helper.make_node("LessOrEqual", ["frames", f"limit{i}"], [f"{cond}_1"]),
            helper.make_node("Squeeze", [f"{cond}_1"], [cond]),
            helper.make_node("If", [cond], [f"sel{i}"], then_branch=branches[i], else_branch=current),
        ]
        out = helper.make_tensor_value_info(f"sel{i}", TensorProto.FLOAT, None)
        current = helper.make_graph(inner, f"select{i}", [], [out])
    nodes += list(current.node)
    nodes.append(helper.make_node("Identity", [current.output[0].name], ["probs"]))
    graph = helper.make_graph(
        nodes,
        "qieemo",
        [
            helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["batch", "frames", n_mels]),
            helper.make_tensor_value_info("feats_lengths", TensorProto.INT64, ["batch"]),
        ],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", classes])],
        initializer=weights,
    )
    opsets = {o.domain: o.version for m in models for o in m.opset_import}
    joined = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
    joined.ir_version = models[0].ir_version
    return joined


def export_onnx(
    s2e: Speech2Emotion,
    path: Path,
    max_seconds: float = 64.0,
    opset: int = 17,
    quantize: Optional[str] = None,
    bucket_growth: float = 1.5,
    buckets: Optional[List[float]] = None,
    int8_path: Optional[Path] = None,
) -> Path:
    """Write the self-contained model to ``path`` (see the module docstring).

    ``buckets``: the length buckets in seconds, instead of ``bucket_seconds(max_seconds,
    bucket_growth)``. ``int8_path``: also write the int8 model there from the same traces.
    """
    if s2e.model.frontend is None:
        raise ValueError("the model has no frontend; export expects one that computes features")
    if quantize not in (None, "int8"):
        raise ValueError(f"--quantize takes int8, not {quantize!r}")
    constants = frontend_constants(s2e)
    hop = constants["hop_length"]
    seconds = sorted(buckets) if buckets else bucket_seconds(max_seconds, bucket_growth)
    frames = [1 + int(round(s * s2e.fs)) // hop for s in seconds]
    n_mels = len(constants["melmat"][0])
    module = FeatsToProbs(s2e.model, s2e.temperature).eval()
    outputs = {path: quantize} if int8_path is None else {path: quantize, int8_path: "int8"}
    variants: Dict[Path, list] = {p: [] for p in outputs}
    with tempfile.TemporaryDirectory(prefix="qieemo_export_") as tmp:
        for f in frames:
            traced = Path(tmp) / f"b{f}.onnx"
            with _single_chunk():
                _trace(module, f, n_mels, traced, opset)
            for out, quant in outputs.items():
                if quant == "int8":
                    _quantize_int8(traced, traced.with_suffix(".int8.onnx"))
                    variants[out].append(onnx.load(str(traced.with_suffix(".int8.onnx"))))
                else:
                    variants[out].append(onnx.load(str(traced)))
    for out, quant in outputs.items():
        joined = join_buckets(variants[out], frames, n_mels, len(s2e.labels))
        meta = {
            "labels": s2e.labels,
            "fs": s2e.fs,
            "min_samples": s2e.min_samples,
            "max_samples": int(round(seconds[-1] * s2e.fs)),
            "bucket_frames": frames,
            "quantize": quant or "none",
            "temperature": s2e.temperature,  # informational: the graph's softmax already applies it
            "frontend": constants,
        }
        helper.set_model_props(joined, {METADATA_KEY: json.dumps(meta)})
        onnx.checker.check_model(joined)
        with atomic_write(Path(out), "wb") as f:
            f.write(joined.SerializeToString())
    return Path(path)
