"""Atomic file writes: a reader never sees a half-written clip, MP3, upload or manifest.

Everything is written to a hidden temporary sibling (same folder, so ``os.replace`` stays on one
filesystem) and renamed over the target; the temporary file never outlives a failure.
"""

import os
import shutil
import uuid
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    """A unique hidden temp name in the same folder as ``path``."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = temporary_sibling(path)
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 ``text`` to ``path``, creating its folder when needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` (whose folder must exist)."""
    tmp = temporary_sibling(target)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
