"""Import ESPnet without reaching for the network or writing to stdout, and without paying for
modules nobody needs.

ESPnet's ASR task imports g2p_en, which calls ``nltk.download`` at import time when its data
is absent. This project never tokenises with g2p, and runs offline, so while ESPnet is being
imported a download is skipped instead of attempted. nltk itself takes seconds to import, so it
is patched when something imports it, never imported here. ESPnet also prints import-time
notices ("Failed to import Flash Attention ...") to stdout; they go to stderr, so a command's
stdout holds only its records (``qieemo ... --format jsonl``).
"""

import functools
import importlib.abc
import importlib.machinery
import sys
from contextlib import contextmanager, redirect_stdout
from types import ModuleType
from typing import Callable, Iterator, Optional, Sequence

Loader = Callable[[ModuleType], None]


class ImportHook(importlib.abc.MetaPathFinder):
    """Runs ``around(load, module)`` in place of the module's own loading, once, for one module name."""

    def __init__(self, name: str, around: Callable[[Loader, ModuleType], None]) -> None:
        self.name, self.around = name, around

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]], target: Optional[ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != self.name:
            return None
        self.remove()  # one shot; also keeps the search below from finding this hook
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                spec.loader.exec_module = functools.partial(self.around, spec.loader.exec_module)
                return spec
        return None

    def install(self) -> "ImportHook":
        sys.meta_path.insert(0, self)
        return self

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)


def _skip_download(*args, **kwargs) -> bool:
    return False


@contextmanager
def no_nltk_downloads() -> Iterator[None]:
    saved = {}

    def patch(nltk: ModuleType) -> None:
        saved["download"] = nltk.download
        nltk.download = _skip_download

    def load_then_patch(load: Loader, module: ModuleType) -> None:
        load(module)
        patch(module)

    hook = None
    if "nltk" in sys.modules:
        patch(sys.modules["nltk"])
    else:
        hook = ImportHook("nltk", load_then_patch).install()
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        if hook is not None:
            hook.remove()
        if saved:
            sys.modules["nltk"].download = saved["download"]
