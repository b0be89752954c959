"""Put this package's modules into ESPnet's own ``ClassChoices`` registries."""
from espnet_qieemo._offline import no_nltk_downloads


def register() -> None:
    """Make ``encoder: efficient_conformer`` valid in ESPnet's ASR task (training and Speech2Text)."""
    with no_nltk_downloads():
        from espnet2.tasks.asr import encoder_choices as asr_encoder_choices

    from espnet_qieemo.asr.encoder.efficient_conformer_encoder import (
        EfficientConformerEncoder,
    )

    asr_encoder_choices.classes.setdefault("efficient_conformer", EfficientConformerEncoder)
