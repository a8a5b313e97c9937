"""Data order and augmentation seeds are functions of (seed, epoch, position) only."""

from __future__ import annotations

import torch

from hicropl.engine.sampling import SeededBatchSampler, SeededDataset, ShardSampler


def test_resuming_mid_epoch_yields_the_remaining_batches():
    full = SeededBatchSampler(size=23, batch_size=4, seed=3)
    full.set_epoch(2)
    batches = list(full)
    assert len(batches) == len(full) == 5  # drop_last: 23 >= 4
    resumed = SeededBatchSampler(size=23, batch_size=4, seed=3)
    resumed.set_epoch(2, start_batch=3)
    assert list(resumed) == batches[3:]
    other = SeededBatchSampler(size=23, batch_size=4, seed=3)
    other.set_epoch(3)
    assert list(other) != batches


def test_ranks_split_each_global_batch():
    single = SeededBatchSampler(size=16, batch_size=8, seed=0)
    ranks = [SeededBatchSampler(size=16, batch_size=8, seed=0, rank=r, world_size=2) for r in range(2)]
    for sampler in (single, *ranks):
        sampler.set_epoch(1)
    for whole, *parts in zip(single, *ranks, strict=True):
        assert [item for part in parts for item in part] == whole


def test_small_dataset_keeps_its_only_batch():
    sampler = SeededBatchSampler(size=3, batch_size=8, seed=0)
    assert [len(b) for b in sampler] == [3]


def test_seeded_dataset_is_reproducible_and_leaves_global_rng_alone():
    class Noisy:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, index: int) -> torch.Tensor:
            return torch.rand(3) + index

    dataset = SeededDataset(Noisy())
    state = torch.get_rng_state()
    first, again, other = dataset[(1, 42)], dataset[(1, 42)], dataset[(1, 43)]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(torch.get_rng_state(), state)


def test_shard_sampler_covers_everything_once():
    shards = [list(ShardSampler(10, r, 3)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(10))


def test_a_partial_batch_is_split_evenly_and_too_few_images_are_detected():
    ranks = [SeededBatchSampler(size=5, batch_size=8, seed=0, rank=r, world_size=2) for r in range(2)]
    assert [len(next(iter(s))) for s in ranks] == [2, 3]
    assert ranks[0].smallest_share() == 2
    assert SeededBatchSampler(size=3, batch_size=8, seed=0, world_size=4).smallest_share() == 0
    assert SeededBatchSampler(size=0, batch_size=8, seed=0).smallest_share() == 0
