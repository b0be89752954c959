"""Put this package's modules into ESPnet's own ``ClassChoices`` registries.

``import espnet_qieemo`` must stay cheap (``qieemo --help`` imports it), so it does not import
ESPnet: it registers at once when ESPnet's ASR task is already imported, and otherwise installs
a one-shot import hook that registers right after ``espnet2.tasks.asr`` is first imported,
whoever imports it. Either way, once the package is imported, ESPnet's own training and
loading code (``ASRTask``, ``Speech2Text``) knows ``encoder: efficient_conformer``.
"""

import sys
from types import ModuleType

from espnet_qieemo._offline import ImportHook, Loader, no_nltk_downloads

ASR_TASK = "espnet2.tasks.asr"


def register() -> None:
    """Make ``encoder: efficient_conformer`` valid in ESPnet's ASR task (training and Speech2Text)."""
    with no_nltk_downloads():
        from espnet2.tasks.asr import encoder_choices as asr_encoder_choices

    from espnet_qieemo.asr.encoder.efficient_conformer_encoder import EfficientConformerEncoder

    asr_encoder_choices.classes.setdefault("efficient_conformer", EfficientConformerEncoder)


def _load_then_register(load: Loader, module: ModuleType) -> None:
    with no_nltk_downloads():
        load(module)
    register()


def register_when_imported() -> None:
    if ASR_TASK in sys.modules:
        register()
    elif not any(isinstance(f, ImportHook) and f.name == ASR_TASK for f in sys.meta_path):
        ImportHook(ASR_TASK, _load_then_register).install()
