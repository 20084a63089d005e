"""Lazy package exports (PEP 562): a package's public names are imported from their submodules on
first use, so the pure parts (frame metric, CSV readers, label maps) import without torch."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable


def lazy_exports(
    package: str, exports: dict[str, Iterable[str]]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``exports`` maps a relative submodule (``".mapper"``) to the names it provides.

    Returns ``(__getattr__, __dir__, __all__)`` for the package's namespace.
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__, sorted(where)
