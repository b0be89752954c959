"""Qieemo speech emotion recognition as an ESPnet plugin.

Importing the package registers its encoder in ESPnet's registries, so any process that
did ``import espnet_qieemo`` can train or load models with ``encoder: efficient_conformer``.
"""
from espnet_qieemo.registry import register

register()

__version__ = "0.1.0"
