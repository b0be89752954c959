"""Utterance-level pooling and the emotion classifier head (256-dim linear layers, paper III.B)."""

import torch

from espnet_qieemo.utils.masks import masked_mean


class EmotionClassifier(torch.nn.Module):
    """Masked mean pooling -> BatchNorm -> Linear(hidden) -> ReLU -> Dropout -> Linear(classes).

    The BatchNorm is there because utterance means of encoder features differ little from
    one utterance to the next (what varies most inside an utterance, the phonetic content,
    averages out); standardising each pooled dimension over the data makes the emotional
    differences visible to the linear layers. Measured on 16 EmoDB utterances with a frozen
    small ASR encoder: the head left chance level only with it (0.94 train accuracy after 10
    steps instead of < 0.5 after 60). A one-utterance training batch uses the running
    statistics, and eval always does, so an utterance's logits never depend on its batch.
    """

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        hidden_size: int = 256,
        dropout_rate: float = 0.1,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(input_size) if batch_norm else None
        self.hidden = torch.nn.Linear(input_size, hidden_size)
        self.dropout = torch.nn.Dropout(dropout_rate)
        self.output = torch.nn.Linear(hidden_size, num_classes)

    def _normalize(self, pooled: torch.Tensor) -> torch.Tensor:
        if self.norm is None:
            return pooled
        if self.training and pooled.size(0) > 1:
            return self.norm(pooled)
        n = self.norm
        return torch.nn.functional.batch_norm(
            pooled, n.running_mean, n.running_var, n.weight, n.bias, training=False, eps=n.eps
        )

    def forward(self, xs: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
        pooled = self._normalize(masked_mean(xs, lens))
        return self.output(self.dropout(torch.relu(self.hidden(pooled))))
