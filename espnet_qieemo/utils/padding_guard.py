"""Make a padded batch give each utterance the result it gets alone.

ESPnet's conformer (and branchformer) convolution modules do not mask padding: the
depthwise convolution reads the padded frames of a batch, which hold non-zero values
after the feed-forward and attention layers, so the last frames of a shorter utterance
change with whatever it was batched with. Alone, the same convolution reads its zero
padding there. This guard zeroes padded frames at the input of every temporal
convolution (and pooling) inside the encoder blocks, which is exactly the single-
utterance computation; it is a no-op for encoders that already mask (efficient_conformer).

ESPnet's convolutional subsampling also derives its output mask by slicing the input
mask, which in a padded batch counts up to two frames more than the utterance gets alone
(those frames are computed from padding). The guard replaces that mask by the lengths the
subsampling gives the utterance on its own.
"""

from typing import Dict, List, Optional

import torch

from espnet_qieemo.asr.encoder.block_outputs import encoder_blocks

TEMPORAL = (torch.nn.Conv1d, torch.nn.MaxPool1d, torch.nn.AvgPool1d)


class PaddingGuard:
    """Context manager: ``with PaddingGuard(model.encoder): model.classify(...)``."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.blocks = encoder_blocks(encoder)
        self.embed: Optional[torch.nn.Module] = getattr(encoder, "embed", None)
        self.mask: Optional[torch.Tensor] = None
        self._handles: List[torch.utils.hooks.RemovableHandle] = []
        self._alone: Dict[int, int] = {}  # input frames -> subsampled frames, unpadded
        self._measuring = False

    def __enter__(self) -> "PaddingGuard":
        if self.embed is not None:
            self._handles.append(self.embed.register_forward_hook(self._fix_subsampled_mask))
        for block in self.blocks:
            self._handles.append(block.register_forward_pre_hook(self._remember_mask, with_kwargs=True))
            for module in block.modules():
                if isinstance(module, TEMPORAL) and _reads_neighbours(module):
                    self._handles.append(module.register_forward_pre_hook(self._zero_padding))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self.mask = [], None

    def _fix_subsampled_mask(self, module, args, output):
        in_mask = args[1] if len(args) > 1 else None
        if (
            self._measuring
            or not isinstance(in_mask, torch.Tensor)
            or not isinstance(output, tuple)
            or len(output) != 2
        ):
            return None  # called without a mask: the encoder derives lengths itself
        xs, mask = output
        in_lens = in_mask[:, -1, :].sum(-1).tolist()
        out_lens = torch.tensor([self._alone_length(int(n), args[0]) for n in in_lens], device=mask.device)
        frames = torch.arange(mask.size(-1), device=mask.device)
        return xs, (frames[None, :] < out_lens[:, None]).unsqueeze(1).to(mask.dtype)

    def _alone_length(self, frames: int, like: torch.Tensor) -> int:
        """Subsampled length of an unpadded input of ``frames`` frames (cached)."""
        if frames not in self._alone:
            x = like.new_zeros(1, frames, like.size(-1))
            ones = torch.ones(1, 1, frames, dtype=torch.bool, device=like.device)
            self._measuring = True
            try:
                out = self.embed(x, ones)[0]
            finally:
                self._measuring = False
            self._alone[frames] = int((out[0] if isinstance(out, tuple) else out).size(1))
        return self._alone[frames]

    def _remember_mask(self, module, args, kwargs):
        mask = args[1] if len(args) > 1 else kwargs.get("mask")
        self.mask = mask if isinstance(mask, torch.Tensor) and mask.dim() == 3 else None

    def _zero_padding(self, module, args):
        x = args[0]
        if self.mask is None or x.dim() != 3 or x.size(-1) != self.mask.size(-1):
            return None  # not at the block's frame rate: leave it alone
        return (x * self.mask[:, -1:, :].to(x.dtype), *args[1:])


def _reads_neighbours(module: torch.nn.Module) -> bool:
    kernel = module.kernel_size
    return (kernel[0] if isinstance(kernel, tuple) else kernel) > 1
