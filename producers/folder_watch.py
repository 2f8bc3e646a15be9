"""Which exports dropped in a folder are ready to publish (pure), and the record of those done.

A scheduled export usually lands in a shared folder: ``leap produce SOURCE FOLDER --follow``
publishes each file once, in the order they arrived. A file is ready once it has not changed
for ``settle`` seconds (a copy in progress is not read half-written); names that copying tools
use for partial files (``.part``, ``.tmp``, a leading dot, a trailing ``~``) are never read. A
file that changes after it was published (same name, new size or time) is published again,
which is harmless: event ids come from the records.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

PARTIAL_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", "~")


def ready_files(listing: Iterable[tuple[str, int, int]], done: Mapping[str, tuple[int, int]], now_ns: int, settle_seconds: float) -> list[str]:
    """Names of files to publish now, oldest first: ``listing`` is ``(name, size, mtime_ns)``."""
    ready = []
    for name, size, mtime_ns in listing:
        if name.startswith(".") or name.endswith(PARTIAL_SUFFIXES):
            continue
        if now_ns - mtime_ns < settle_seconds * 1e9:
            continue
        if tuple(done.get(name, ())) == (size, mtime_ns):
            continue
        ready.append((mtime_ns, name))
    return [name for _, name in sorted(ready)]


def list_folder(folder: Path) -> list[tuple[str, int, int]]:
    """The regular files of ``folder`` as ``(name, size, mtime_ns)``."""
    out = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file():
                info = entry.stat()
                out.append((entry.name, info.st_size, info.st_mtime_ns))
    return out


class DoneFiles:
    """The files of a followed folder already published, kept in a small JSON file written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.files: dict[str, tuple[int, int]] = {k: tuple(v) for k, v in json.loads(path.read_text()).items()}  # type: ignore[misc]
        except FileNotFoundError:
            self.files = {}

    def mark(self, name: str, size: int, mtime_ns: int) -> None:
        """Record a file as published (after Kafka acknowledged it)."""
        self.files[name] = (size, mtime_ns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        with partial.open("w") as out:
            json.dump(self.files, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, self.path)
