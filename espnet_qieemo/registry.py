"""Put this package's modules into ESPnet's own ``ClassChoices`` registries.

``import espnet_qieemo`` must stay cheap (``qieemo --help`` imports it), so it does not import
ESPnet: it registers at once when ESPnet's ASR task is already imported, and otherwise installs
a one-shot import hook that registers right after ``espnet2.tasks.asr`` is first imported,
whoever imports it. Either way, once the package is imported, ESPnet's own training and
loading code (``ASRTask``, ``Speech2Text``) knows ``encoder: efficient_conformer``.
"""
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Optional, Sequence

from espnet_qieemo._offline import no_nltk_downloads

ASR_TASK = "espnet2.tasks.asr"


def register() -> None:
    """Make ``encoder: efficient_conformer`` valid in ESPnet's ASR task (training and Speech2Text)."""
    with no_nltk_downloads():
        from espnet2.tasks.asr import encoder_choices as asr_encoder_choices

    from espnet_qieemo.asr.encoder.efficient_conformer_encoder import EfficientConformerEncoder

    asr_encoder_choices.classes.setdefault("efficient_conformer", EfficientConformerEncoder)


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Finds ``espnet2.tasks.asr`` through the other finders and runs ``register`` after it loads."""

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Optional[ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != ASR_TASK:
            return None
        sys.meta_path.remove(self)  # one shot; also keeps the search below from finding itself
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                load = spec.loader.exec_module

                def exec_module(module: ModuleType) -> None:
                    with no_nltk_downloads():
                        load(module)
                    register()

                spec.loader.exec_module = exec_module
                return spec
        return None


def register_when_imported() -> None:
    if ASR_TASK in sys.modules:
        register()
    elif not any(isinstance(f, _RegisterAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterImport())
