"""The registry of source adapters: every module here holds one ``Adapter`` (``base``), found by name.

Adding a source is adding a module with its ``Adapter`` subclass (and its tests): the
registry finds it, ``leap produce NAME`` lists it, and ``--format auto`` tries it. Order
is by module name, so detection does not depend on import order; each adapter's ``start``
is strict enough that at most one accepts a file.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache

from producers.sources.base import Adapter, NotThisFormat, Options

__all__ = ["Adapter", "NotThisFormat", "Options", "adapter", "adapters", "names"]


@cache
def adapters() -> dict[str, type[Adapter]]:
    """Every adapter by name, from the modules of this package."""
    found: dict[str, type[Adapter]] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Adapter) and cls is not Adapter and cls.__module__ == module.__name__ and not inspect.isabstract(cls):
                if cls.name in found:
                    raise RuntimeError(f"two adapters are named {cls.name!r}: {found[cls.name].__module__} and {module.__name__}")
                found[cls.name] = cls
    return found


def names() -> tuple[str, ...]:
    """The adapters' names, as users type them."""
    return tuple(adapters())


def adapter(name: str) -> type[Adapter]:
    """The adapter called ``name``; ``KeyError`` with the known names when there is none."""
    try:
        return adapters()[name]
    except KeyError:
        raise KeyError(f"no source adapter {name!r}; known: {', '.join(names())}") from None
