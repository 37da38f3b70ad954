"""Helpers shared by the benchmark scripts: size lists, load average, timing."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable


def parse_sizes(text: str, check: Callable[[int], str | None] = lambda D: None) -> list[int]:
    """"64,256,1024" → [64, 256, 1024]; ``check(D)`` returns an error message for a size it refuses."""
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        D = int(part)
        problem = check(D)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        sizes.append(D)
    if not sizes:
        raise argparse.ArgumentTypeError("no sizes given")
    return sizes


def load_average() -> str:
    """The 1/5/15-minute load average ("n/a" where the OS has none): on a shared machine it dominates the noise."""
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def timed(fn):
    """(seconds, result) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out
