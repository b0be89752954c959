"""Qieemo speech emotion recognition as an ESPnet plugin.

After ``import espnet_qieemo``, ESPnet's ASR task knows ``encoder: efficient_conformer``
(training, ``build_model_from_file``, ``Speech2Text``). The import itself is light: the
encoder is registered when ESPnet's ASR task is imported (see ``registry``).
"""

from espnet_qieemo.registry import register_when_imported

register_when_imported()

__version__ = "0.1.0"
