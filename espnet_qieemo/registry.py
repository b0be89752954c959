"""Put this package's modules into ESPnet's own ``ClassChoices`` registries."""
import sys
from contextlib import redirect_stdout

from espnet_qieemo._offline import no_nltk_downloads


def register() -> None:
    """Make ``encoder: efficient_conformer`` valid in ESPnet's ASR task (training and Speech2Text).

    ESPnet prints import-time notices ("Failed to import Flash Attention ...") to stdout; they
    go to stderr here, so a command's stdout holds only its records (``qieemo ... --format jsonl``).
    """
    with no_nltk_downloads(), redirect_stdout(sys.stderr):
        from espnet2.tasks.asr import encoder_choices as asr_encoder_choices

    from espnet_qieemo.asr.encoder.efficient_conformer_encoder import (
        EfficientConformerEncoder,
    )

    asr_encoder_choices.classes.setdefault("efficient_conformer", EfficientConformerEncoder)
