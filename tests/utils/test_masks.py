"""Padding-free means: windows and whole sequences against plain arithmetic."""

import torch

from espnet_qieemo.utils.masks import masked_mean, masked_window_mean, valid_mask


def test_masked_window_mean_averages_valid_frames_only():
    x = torch.arange(14.0).view(1, 7, 2).repeat(2, 1, 1)  # linear in t
    pooled = masked_window_mean(x, valid_mask(torch.tensor([7, 4]), 7), window=3)
    assert pooled.shape == (2, 3, 2)
    # windows 0-2, 3-5, 6: the mean of frames linear in t is the middle valid frame
    torch.testing.assert_close(pooled[0], x[0, [1, 4, 6]])
    torch.testing.assert_close(pooled[1, :2], x[1, [1, 3]])  # window 3-5: frame 3 only
    assert not pooled[1, 2].any()  # a window with no valid frame


def test_masked_mean_ignores_padding_values():
    x = torch.randn(2, 5, 3)
    x[1, 2:] = 1e6  # padding of the second sequence
    out = masked_mean(x, torch.tensor([5, 2]))
    torch.testing.assert_close(out[0], x[0].mean(0))
    torch.testing.assert_close(out[1], x[1, :2].mean(0))
