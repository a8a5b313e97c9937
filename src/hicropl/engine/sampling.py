"""Training data order as a pure function of (seed, epoch): exact resume, same batches under DDP.

The global order of an epoch is a seeded permutation; global batch b covers positions
[b*B, (b+1)*B) and DDP rank r takes the r-th slice of it. Each sample also carries a seed derived
from (seed, epoch, position) under which its random augmentation runs, so augmentations do not
depend on the number of workers, the number of processes, or where a resumed run restarted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset

from hicropl.engine.seeding import epoch_permutation, sample_seed


class SeededBatchSampler:
    """Yields lists of ``(dataset index, augmentation seed)`` for this rank's share of each global batch."""

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool | None = None,
    ) -> None:
        if batch_size % world_size:
            raise ValueError(f"global batch {batch_size} is not divisible by {world_size} processes")
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        # The official sampler drops the last incomplete batch when there is at least one full batch.
        self.drop_last = size >= batch_size if drop_last is None else drop_last
        self.epoch = 0
        self.start_batch = 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = epoch
        self.start_batch = start_batch

    def num_batches(self) -> int:
        if self.drop_last:
            return self.size // self.batch_size
        return -(-self.size // self.batch_size)

    def __len__(self) -> int:
        return max(self.num_batches() - self.start_batch, 0)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = epoch_permutation(self.size, self.seed, self.epoch)
        for batch in range(self.start_batch, self.num_batches()):
            begin = batch * self.batch_size
            count = min(self.batch_size, self.size - begin)
            # Even split: a full batch gives every rank batch_size / world_size samples.
            lo = begin + self.rank * count // self.world_size
            hi = begin + (self.rank + 1) * count // self.world_size
            yield [(order[p], sample_seed(self.seed, self.epoch, p)) for p in range(lo, hi)]

    def smallest_share(self) -> int:
        """The fewest samples any rank gets in any batch (0 would leave a process without data)."""
        if self.num_batches() == 0:
            return 0
        last = self.size - (self.num_batches() - 1) * self.batch_size
        return min(self.batch_size, last) // self.world_size


class ShardSampler:
    """Evaluation order: every index once, rank r taking indices r, r+W, ... (no padding)."""

    def __init__(self, size: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, size, world_size))

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)


class SeededDataset(Dataset):
    """Runs ``dataset[index]`` under a per-sample torch seed, leaving the caller's RNG untouched."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]
