"""ESPnetEmotionModel: an ASR encoder's blocks -> fusion (MMF) -> CMA -> pooling -> classes."""

from contextlib import nullcontext
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from espnet2.asr.encoder.abs_encoder import AbsEncoder
from espnet2.asr.frontend.abs_frontend import AbsFrontend
from espnet2.asr.specaug.abs_specaug import AbsSpecAug
from espnet2.layers.abs_normalize import AbsNormalize
from espnet2.torch_utils.device_funcs import force_gatherable
from espnet2.train.abs_espnet_model import AbsESPnetModel
from typeguard import typechecked

from espnet_qieemo.asr.encoder.block_outputs import BlockOutput, BlockOutputCollector
from espnet_qieemo.emo.cma import CrossModalAttention
from espnet_qieemo.emo.metrics import metrics_from_confusion
from espnet_qieemo.emo.mmf import AbsFusion
from espnet_qieemo.emo.pooling import EmotionClassifier
from espnet_qieemo.utils.long_frontend import utterance_feats


class RecallTally:
    """Confusion counts over a whole epoch, so UA is the true per-class recall mean."""

    def __init__(self, num_classes: int) -> None:
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)

    def add(self, target: torch.Tensor, pred: torch.Tensor) -> None:
        n = self.confusion.size(0)
        flat = (target.cpu() * n + pred.cpu()).long()
        self.confusion += torch.bincount(flat, minlength=n * n).view(n, n)

    def unweighted_accuracy(self) -> float:
        """Mean recall over the classes that occur (NaN when nothing was counted), as a fraction."""
        return metrics_from_confusion(self.confusion.numpy())["UA"] / 100.0


class ESPnetEmotionModel(AbsESPnetModel):
    """Emotion classifier on top of any ESPnet encoder that keeps its blocks in ``encoders``.

    ``freeze_encoder_steps``: the frontend+encoder get no gradient during the first N
    training forward passes (N optimizer steps with accum_grad 1), so the new modules settle
    before the pretrained encoder is changed. The count is a buffer, so resuming keeps it.
    ``ctc``/``decoder``/``token_list`` are None unless ``attach_asr_heads`` kept the ASR
    heads (``keep_asr_heads``); they are frozen and only used for transcripts at inference.
    """

    @typechecked
    def __init__(
        self,
        labels: Sequence[str],
        frontend: Optional[AbsFrontend],
        specaug: Optional[AbsSpecAug],
        normalize: Optional[AbsNormalize],
        encoder: AbsEncoder,
        fusion: AbsFusion,
        attention: Optional[CrossModalAttention],
        classifier: EmotionClassifier,
        class_weights: Optional[Sequence[float]] = None,
        freeze_encoder_steps: int = 0,
    ) -> None:
        super().__init__()
        self.labels: List[str] = list(labels)
        self.frontend = frontend
        self.specaug = specaug
        self.normalize = normalize
        self.encoder = encoder
        self.fusion = fusion
        self.attention = attention
        self.classifier = classifier
        self.freeze_encoder_steps = freeze_encoder_steps
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        if class_weights is not None and len(class_weights) != len(self.labels):
            raise ValueError(
                f"class_weights has {len(class_weights)} values but there are {len(self.labels)} labels {self.labels}"
            )
        weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float)
        self.register_buffer("class_weights", weights, persistent=False)
        self.ctc: Optional[torch.nn.Module] = None
        self.decoder: Optional[torch.nn.Module] = None
        self.token_list: Optional[List[str]] = None
        self.tally: Optional[RecallTally] = None

    def attach_asr_heads(
        self, ctc: torch.nn.Module, decoder: Optional[torch.nn.Module], token_list: Sequence[str]
    ) -> None:
        """Keep the ASR CTC/decoder for transcripts; frozen, as emotion training must not move them."""
        self.ctc, self.decoder, self.token_list = ctc, decoder, list(token_list)
        for head in (ctc, decoder):
            if head is not None:
                head.requires_grad_(False)

    # ---- encoding -------------------------------------------------------------------
    def _extract_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Frontend features, computed utterance by utterance.

        An STFT frontend pads the signal's end by reflection; inside a zero-padded batch the
        last frames would see zeros instead, so a batch would change an utterance's features.
        Long utterances go through the frontend in chunks (``utils.long_frontend``).
        """
        speech = speech[:, : int(speech_lengths.max())]
        if self.frontend is None:
            return speech, speech_lengths
        feats = [
            utterance_feats(self.frontend, speech[i : i + 1, : int(n)], speech_lengths[i : i + 1])
            for i, n in enumerate(speech_lengths)
        ]
        lens = torch.cat([f[1] for f in feats])
        padded = speech.new_zeros(len(feats), int(lens.max()), feats[0][0].size(-1))
        for i, (f, n) in enumerate(feats):
            padded[i, : int(n[0])] = f[0, : int(n[0])]
        return padded, lens

    def _encoder_frozen(self) -> bool:
        return self.training and int(self.num_updates) < self.freeze_encoder_steps

    def encode_blocks(
        self, speech: torch.Tensor, speech_lengths: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, List[BlockOutput]]:
        """Frontend + encoder; returns the final output (PPG), its lengths and every block.

        A frozen encoder also runs without dropout: its features stay exactly the pretrained
        ones while the new modules learn on them.
        """
        frozen = self._encoder_frozen()
        self.encoder.train(self.training and not frozen)
        with torch.no_grad() if frozen else nullcontext():
            feats, feats_lens = self._extract_feats(speech, speech_lengths)
            if self.specaug is not None and self.training:
                feats, feats_lens = self.specaug(feats, feats_lens)
            if self.normalize is not None:
                feats, feats_lens = self.normalize(feats, feats_lens)
            with BlockOutputCollector(self.encoder) as collector:
                enc_out, enc_lens, _ = self.encoder(feats, feats_lens)
        self.encoder.train(self.training)
        if isinstance(enc_out, tuple):  # encoders with intermediate CTC outputs
            enc_out = enc_out[0]
        return enc_out, enc_lens, collector.outputs

    def classify_blocks(self, enc_out: torch.Tensor, enc_lens: torch.Tensor, blocks: List[BlockOutput]) -> torch.Tensor:
        """Fusion -> (CMA) -> pooling -> logits (B, num_classes)."""
        emo, emo_lens = self.fusion(blocks)
        if self.attention is not None:
            emo, emo_lens = self.attention(emo, emo_lens, enc_out, enc_lens)
        return self.classifier(emo, emo_lens)

    def classify(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> torch.Tensor:
        return self.classify_blocks(*self.encode_blocks(speech, speech_lengths))

    # ---- training -------------------------------------------------------------------
    def forward(
        self,
        speech: torch.Tensor,
        speech_lengths: torch.Tensor,
        emotion: torch.Tensor,
        emotion_lengths: Optional[torch.Tensor] = None,
        **kwargs,
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        target = emotion.view(emotion.size(0), -1)[:, 0].long()
        logits = self.classify(speech, speech_lengths)
        per_utt = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        if self.class_weights is None:
            loss = per_utt.mean()
            reported = loss
        else:
            w = self.class_weights.to(per_utt.device)[target]
            loss = (w * per_utt).sum() / w.sum()  # as cross_entropy(weight=...) reduces it
            # Reported per utterance (sum of w * l over the batch size): a batch-size weighted
            # mean of it over the shards of a batch (ESPnet under DDP) equals the whole batch's.
            reported = (w * per_utt).mean()
        pred = logits.argmax(-1)
        if self.training:
            self.num_updates += 1
        if self.tally is not None:
            self.tally.add(target, pred)
        stats = dict(loss=reported.detach(), acc=(pred == target).float().mean().detach())
        # 1-element tensors, as ESPnet's DDP / DataParallel stat reduction expects
        return force_gatherable((loss, stats, torch.tensor(speech.size(0))), loss.device)

    def collect_feats(self, speech: torch.Tensor, speech_lengths: torch.Tensor, **kwargs) -> Dict[str, torch.Tensor]:
        feats, feats_lengths = self._extract_feats(speech, speech_lengths)
        return {"feats": feats, "feats_lengths": feats_lengths}
