"""Import ESPnet without reaching for the network.

ESPnet's ASR task imports g2p_en, which calls ``nltk.download`` at import time when its
data is absent. This project never tokenises with g2p, and runs offline, so while ESPnet is
being imported a download is skipped instead of attempted.
"""
from contextlib import contextmanager
from typing import Iterator


def _skip_download(*args, **kwargs) -> bool:
    return False


@contextmanager
def no_nltk_downloads() -> Iterator[None]:
    try:
        import nltk
    except ImportError:
        yield
        return
    saved = nltk.download
    nltk.download = _skip_download
    try:
        yield
    finally:
        nltk.download = saved
