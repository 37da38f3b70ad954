"""Atomic file output: every file the library or the CLI writes appears whole or not at all.

Each writer creates a temporary file *beside* the destination (same folder, so ``os.replace`` is an atomic rename
on the same file system), writes and fsyncs it, gives it ordinary permissions (``0o666`` less the umask; ``mkstemp``
would leave ``0o600``) and renames it over the final name. On any error, including ``KeyboardInterrupt``, the
temporary file is removed and the destination is untouched. Folders are published the same way by
:func:`atomic_directory`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_write_json", "atomic_write_with", "atomic_directory",
           "jsonable"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_with(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it to ``path``.

    For writers that want a file name (``matplotlib``'s ``savefig``, ``torch.save``). Returns ``path`` as a
    :class:`~pathlib.Path`.
    """
    dest = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return dest


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return atomic_write_with(path, write)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def jsonable(value: object) -> object:
    """``value`` with non-finite floats as ``None`` (JSON has no NaN/inf), tuples as lists, paths as strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def atomic_write_json(path: str | os.PathLike, document: object, *, indent: int = 1) -> Path:
    """Write ``document`` as JSON (non-finite floats as ``null``, UTF-8 kept readable) atomically."""
    return atomic_write_text(path, json.dumps(jsonable(document), indent=indent, ensure_ascii=False,
                                              allow_nan=False) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on normal exit rename it to ``path``.

    ``path`` must not exist yet, or be an empty folder (it is replaced); a non-empty folder is never overwritten:
    the rename itself refuses it (:class:`OSError`), so a folder filled meanwhile by another run is not lost. On an
    error the temporary folder is removed.
    """
    dest = Path(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, dest)  # POSIX rename replaces an empty folder and refuses a non-empty one
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
