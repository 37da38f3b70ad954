"""Independent input streams for one run (the protocol of arXiv 2310.17513v3, App. G.1–G.2, pp. 39–40).

Every seed owns separate local ``torch.Generator`` objects, derived once from the seed and never reseeded:

==============  ====================  ===============================================
purpose         generator seed        used for
==============  ====================  ===============================================
train           8·seed + 0            a *fresh* batch at every optimiser step
validation      8·seed + 1            one fixed validation set
test            8·seed + 2            one fixed test set
models          8·seed + 3            frozen/target weights (:mod:`.setups`)
adapter init    8·seed + 4            LoRA ``A ~ N(0, 0.25²)`` (:mod:`.methods`)
pretraining     8·seed + 5            the pretraining batches of the "pretrained" frozen model
==============  ====================  ===============================================

The stride 8 (not 3) keeps every purpose of every seed distinct: with ``3·seed + k`` the model stream of seed s
would be the train stream of seed s + 1.

Inputs are float64: ``x ~ N(0, I_D)`` rows ``(n, D)`` for the linear chain and the FNN; ``X`` of shape
``(n, D, N)`` with i.i.d. N(0, 1) entries for the TFN.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from lora_theory.errors import DomainError
from lora_theory.random_matrices import generator
from lora_theory.validation import check_int

__all__ = ["STRIDE", "PURPOSES", "derived_seed", "Streams", "sample_inputs"]

STRIDE = 8
PURPOSES = {"train": 0, "validation": 1, "test": 2, "models": 3, "adapter": 4, "pretrain": 5}


def derived_seed(seed: int, purpose: str) -> int:
    """The generator seed of ``purpose`` for run ``seed`` (see the module table)."""
    if purpose not in PURPOSES:
        raise DomainError(f"purpose must be one of {sorted(PURPOSES)}; got {purpose!r}")
    return STRIDE * check_int(seed, "seed", minimum=0) + PURPOSES[purpose]


def sample_inputs(n: int, width: int, gen: torch.Generator, seq_len: int | None = None) -> torch.Tensor:
    """``n`` float64 inputs: rows ``(n, D)`` of N(0, I_D), or ``(n, D, N)`` N(0, 1) sequences when ``seq_len``."""
    shape = (n, width) if seq_len is None else (n, width, seq_len)
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


class Streams:
    """The train / validation / test inputs of one run. Each has its own generator, created here once.

    ``train_batch()`` draws a new batch from the train generator at every call (the generator advances, it is never
    reseeded); ``validation(n)`` and ``test(n)`` are drawn once on first use and cached, so every later call (and
    every grid point of a run) sees the same set.
    """

    def __init__(self, seed: int, width: int, *, seq_len: int | None = None, batch_size: int = 256) -> None:
        self.seed = seed
        self.width = width
        self.seq_len = seq_len
        self.batch_size = batch_size
        self._train = generator(derived_seed(seed, "train"))
        self._val_gen = generator(derived_seed(seed, "validation"))
        self._test_gen = generator(derived_seed(seed, "test"))
        self._val: torch.Tensor | None = None
        self._test: torch.Tensor | None = None

    def train_batch(self) -> torch.Tensor:
        """A fresh batch of ``batch_size`` inputs."""
        return sample_inputs(self.batch_size, self.width, self._train, self.seq_len)

    def train_batches(self, steps: int) -> Iterator[torch.Tensor]:
        for _ in range(steps):
            yield self.train_batch()

    def validation(self, n: int) -> torch.Tensor:
        if self._val is None:
            self._val = sample_inputs(n, self.width, self._val_gen, self.seq_len)
        elif self._val.shape[0] != n:
            raise DomainError(f"validation set already drawn with n={self._val.shape[0]}; asked for n={n}")
        return self._val

    def test(self, n: int) -> torch.Tensor:
        if self._test is None:
            self._test = sample_inputs(n, self.width, self._test_gen, self.seq_len)
        elif self._test.shape[0] != n:
            raise DomainError(f"test set already drawn with n={self._test.shape[0]}; asked for n={n}")
        return self._test
