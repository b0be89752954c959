"""Import ESPnet without reaching for the network or writing to stdout.

ESPnet's ASR task imports g2p_en, which calls ``nltk.download`` at import time when its
data is absent. This project never tokenises with g2p, and runs offline, so while ESPnet is
being imported a download is skipped instead of attempted. ESPnet also prints import-time
notices ("Failed to import Flash Attention ...") to stdout; they go to stderr, so a command's
stdout holds only its records (``qieemo ... --format jsonl``).
"""
import sys
from contextlib import contextmanager, redirect_stdout
from typing import Iterator


def _skip_download(*args, **kwargs) -> bool:
    return False


@contextmanager
def no_nltk_downloads() -> Iterator[None]:
    with redirect_stdout(sys.stderr):
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
