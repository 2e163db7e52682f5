"""Atomic file writes: a reader never sees a half-written clip or MP3 in the cache."""

import os
import uuid
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    """A unique hidden temp name in the same folder (so ``os.replace`` stays on one filesystem)."""
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
