"""Helpers shared by the subcommand modules of :mod:`lora_theory.cli` (standard library only at import time)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lora_theory.errors import FileFormatError

__all__ = ["add_json_argument", "check_output_path", "write_json"]


def add_json_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--json PATH`` (dest ``json_path``): also write ``what`` as JSON to PATH."""
    parser.add_argument("--json", dest="json_path", default=None, metavar="PATH",
                        help=f"also write {what} as JSON to PATH (written atomically: whole or not at all)")


def check_output_path(path: str | None, flag: str = "--json") -> Path | None:
    """``path`` as a Path if a file can be written there (its folder exists, it is not a folder); else
    :class:`~lora_theory.errors.FileFormatError` naming ``flag``. ``None`` (flag not given) stays ``None``.

    Every output file flag of every subcommand (``--json``, ``--plot``) is checked with this before any work, so a
    typo in the path does not cost a whole run."""
    if path is None:
        return None
    target = Path(str(path))
    if str(path) == "" or target.is_dir():
        raise FileFormatError(f"{flag} {str(path)!r} must be a file path, not a folder")
    if not target.resolve().parent.is_dir():
        raise FileFormatError(f"{flag} {str(path)!r}: the folder {str(target.parent)!r} does not exist")
    return target


def write_json(path: Path | None, document: object) -> None:
    """Write ``document`` to ``path`` through :func:`lora_theory.files.atomic_write_json` (nothing when ``None``)."""
    if path is None:
        return
    from lora_theory.files import atomic_write_json

    atomic_write_json(path, document)
