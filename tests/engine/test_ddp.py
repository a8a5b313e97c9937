"""DDP: two gloo processes on the CPU take the same step as one process with the same global batch."""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hicropl.clip.random import random_clip
from hicropl.engine.distributed import DistInfo, init_from_env
from hicropl.engine.evaluate import evaluate
from hicropl.engine.run_config import OptimConfig, ScheduleConfig, TrainConfig
from hicropl.engine.sampling import ShardSampler
from hicropl.engine.seeding import seed_everything
from hicropl.engine.trainer import Trainer
from hicropl.methods.base import build_method
from tests.engine.engine_testkit import CLASSES, RandomImages


def _train_one_step(info: DistInfo) -> tuple[dict[str, torch.Tensor], float]:
    seed_everything(0)
    method = build_method("test_head", random_clip(seed=0), CLASSES, {"dropout": 0.0})
    data = RandomImages()
    trainer = Trainer(
        method,
        data,
        train=TrainConfig(epochs=1, batch_size=8, num_workers=0, precision="fp32"),
        optim=OptimConfig(lr=0.01),
        sched=ScheduleConfig(warmup_epochs=0),
        seed=0,
        dist=info,
    )
    trainer.fit()
    assert trainer.state.global_step == 1
    sampler = ShardSampler(len(data), info.rank, info.world_size)
    loader = torch.utils.data.DataLoader(data, batch_size=3, sampler=sampler)
    metrics = evaluate(method, loader, CLASSES, dist=info)
    assert metrics.count == len(data)
    return {k: v.detach().clone() for k, v in method.state_dict().items()}, metrics.macro_f1


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    info = init_from_env()
    assert info.enabled and info.rank == rank
    state, f1 = _train_one_step(info)
    if rank == 0:
        torch.save({"state": state, "f1": f1}, out)
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    out = tmp_path / "ddp.pt"
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)
    single, f1 = _train_one_step(DistInfo())
    seed_everything(0)
    initial = build_method("test_head", random_clip(seed=0), CLASSES, {"dropout": 0.0})
    assert not torch.allclose(single["proj.weight"], initial.proj.weight)  # the step did move the weights
    for key, value in single.items():
        torch.testing.assert_close(ddp["state"][key], value, atol=1e-6, rtol=1e-5)
    assert ddp["f1"] == f1
