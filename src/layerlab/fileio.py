"""Atomic, durable file writes: a temporary file in the same directory, fsync, ``os.replace``, fsync the directory.

A reader never sees half a file, and a crash mid-write leaves the old file (or none).
After a write returns, the new content *and* its name are on disk (the file is
fsynced before the rename, the directory after it), so a power cut cannot bring the
old file back either. Every file layerlab writes goes through here.

``LAYERLAB_FSYNC=0`` in the environment skips the fsyncs (the writes stay atomic
against a killed process, which never loses what it handed to the OS, but not
against a power cut); use it only for throw-away runs such as a test suite.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "fsync_dir", "durable"]


def durable() -> bool:
    """Whether writes are fsynced (``LAYERLAB_FSYNC`` is not ``0``/``false``/``no``/``off``)."""
    return os.environ.get("LAYERLAB_FSYNC", "1").strip().lower() not in ("0", "false", "no", "off")


def fsync_dir(path) -> None:
    """Flush a directory's entries (names created, renamed or removed in it) to disk.

    A no-op where directories cannot be opened (Windows) or when :func:`durable` is off.
    """
    if not durable():
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - platforms without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", sync_dir: bool = True, **kwargs):
    """Open a temporary file for writing that replaces ``path`` when the block ends without error.

    The file is flushed and fsynced before the rename, and the directory after it unless
    ``sync_dir=False`` (for a caller that fsyncs the directory itself once, after several files).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            if durable():
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def atomic_write_bytes(path, blob: bytes) -> Path:
    with atomic_open(path, "wb") as f:
        f.write(blob)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return Path(path)
