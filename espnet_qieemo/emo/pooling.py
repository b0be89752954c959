"""Utterance-level pooling and the emotion classifier head (256-dim linear layers, paper III.B)."""
import torch

from espnet_qieemo.emo.mmf import valid_mask


def masked_mean(xs: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """Mean over the valid frames of each sequence: (B, T, D) -> (B, D), padding ignored."""
    mask = valid_mask(lens, xs.size(1)).unsqueeze(-1).to(xs.dtype)
    return (xs * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class EmotionClassifier(torch.nn.Module):
    """Masked mean pooling, then Linear(hidden) -> ReLU -> Dropout -> Linear(num_classes)."""

    def __init__(
        self, input_size: int, num_classes: int, hidden_size: int = 256, dropout_rate: float = 0.1
    ) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(input_size, hidden_size)
        self.dropout = torch.nn.Dropout(dropout_rate)
        self.output = torch.nn.Linear(hidden_size, num_classes)

    def forward(self, xs: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        pooled = masked_mean(xs, lens)
        return self.output(self.dropout(torch.relu(self.hidden(pooled))))
