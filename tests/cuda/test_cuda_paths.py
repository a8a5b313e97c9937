"""The CUDA paths, run where a GPU exists (``pytest -m cuda``) and skipped cleanly elsewhere.

Each low-precision result is compared with fp32 on the same GPU (cuBLAS fp32 matmuls use TF32 only when
asked; these tests ask for full fp32): bf16 and fp16-with-GradScaler training steps, the fused
attention with the causal mask, the fused QuickGELU MLP under autocast, torch.compile with inductor,
DDP over NCCL in one process, and the frozen-feature cache fed from GPU tensors. The tolerances are
those of the CPU bf16 tests (tests/methods/test_bf16_cpu.py), where the rounding argument is made;
fp16 keeps 11 significant bits against bf16's 8, so the same bounds hold for it with room to spare.
"""

from __future__ import annotations

import copy
import socket

import pytest
import torch
import torch.nn.functional as F

from hicropl.clip.random import TINY_CLIP_CONFIG, random_clip
from hicropl.methods import ClassSet, build_method
from hicropl.precision import autocast, needs_grad_scaler
from tests.methods.cases import CLASSNAMES, DESCRIPTIONS

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CLASSES = ClassSet(CLASSNAMES, dataset="Toy", descriptions=DESCRIPTIONS)
HICROPL = {"n_ctx": 2, "depth": 4, "boundary": 2}
LOSS_RTOL = 0.03
GRAD_COSINE = 0.95
LOGIT_ATOL = 0.25


@pytest.fixture(scope="module")
def gpu() -> torch.device:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch.device("cuda")


@pytest.fixture(scope="module")
def backbone(gpu: torch.device):
    return random_clip(TINY_CLIP_CONFIG, seed=0, device=gpu)


def _batch(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    images = torch.randn(4, 3, 32, 32, generator=gen)
    labels = torch.randint(len(CLASSNAMES), (4,), generator=gen)
    return images.to(device), labels.to(device)


def _method(backbone, name: str = "hicropl", config: dict | None = None):
    torch.manual_seed(0)
    return build_method(name, backbone, CLASSES, HICROPL if config is None else config)


def _step(method, precision: str, device: torch.device) -> tuple[float, dict[str, torch.Tensor]]:
    """One optimiser step as the trainer takes it (autocast forward, fp32 loss, scaled backward)."""
    method = copy.deepcopy(method)
    params = method.trainable_parameters()
    optimizer = torch.optim.SGD(params, lr=1e-3)
    scaler = torch.amp.GradScaler("cuda") if needs_grad_scaler(precision, device) else None  # type: ignore[arg-type]
    images, labels = _batch(device)
    method.train()
    with autocast(precision, device):  # type: ignore[arg-type]
        loss = method(images, labels).loss.float()
    (scaler.scale(loss) if scaler is not None else loss).backward()
    if scaler is not None:
        scaler.unscale_(optimizer)
    grads = {name: p.grad.detach().float().clone() for name, p in method.named_parameters() if p.grad is not None}
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return loss.item(), grads


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("name", ["hicropl", "coop", "maple"])
def test_low_precision_training_step_agrees_with_fp32(backbone, gpu, precision: str, name: str) -> None:
    configs = {"hicropl": HICROPL, "coop": {"n_ctx": 4}, "maple": {"n_ctx": 2, "depth": 3}}
    method = _method(backbone, name, configs[name])
    loss32, grads32 = _step(method, "fp32", gpu)
    loss_low, grads_low = _step(method, precision, gpu)
    assert loss_low == pytest.approx(loss32, rel=LOSS_RTOL)
    assert grads_low.keys() == grads32.keys() and grads32
    for key, grad in grads32.items():
        assert torch.isfinite(grads_low[key]).all(), key
        if grad.norm() > 1e-6:
            assert F.cosine_similarity(grads_low[key].flatten(), grad.flatten(), dim=0) > GRAD_COSINE, key


def test_sdpa_with_causal_mask_matches_open_clip(backbone, gpu) -> None:
    tokens = backbone.tokenize([f"a photo of a {name}." for name in CLASSNAMES]).to(gpu)
    with torch.no_grad():
        expected = backbone.model.encode_text(tokens)
        got = backbone.encode_text(tokens)
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
        with autocast("bf16", gpu):
            low = backbone.encode_text(tokens).float()
    assert F.cosine_similarity(low, expected, dim=-1).min() > 0.99


def test_fused_quickgelu_under_autocast_matches_the_module(backbone, gpu) -> None:
    images, _ = _batch(gpu)
    encoder = backbone.image_encoder
    with torch.no_grad(), autocast("bf16", gpu):
        encoder.fuse_mlp = False
        plain = backbone.encode_image(images).float()
        encoder.fuse_mlp = True
        fused = backbone.encode_image(images).float()
    assert F.cosine_similarity(fused, plain, dim=-1).min() > 0.99


def test_torch_compile_with_inductor_gives_the_eager_step(backbone, gpu) -> None:
    method = _method(backbone)
    images, labels = _batch(gpu)
    method.train()
    eager = method(images, labels).loss.item()
    compiled = torch.compile(method, backend="inductor")
    assert compiled(images, labels).loss.item() == pytest.approx(eager, rel=1e-4)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ddp_over_nccl_in_one_process(backbone, gpu) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    method = _method(backbone)
    _, expected = _step(method, "fp32", gpu)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        model = DistributedDataParallel(copy.deepcopy(method), device_ids=[gpu.index or 0])
        images, labels = _batch(gpu)
        model(images, labels).loss.backward()
        for name, param in model.module.named_parameters():
            if param.grad is not None:
                torch.testing.assert_close(param.grad, expected[name], atol=1e-5, rtol=1e-4)
    finally:
        dist.destroy_process_group()


def test_feature_cache_takes_gpu_features(backbone, gpu, tmp_path) -> None:
    from hicropl.clip.image_cache import FrozenImageCache

    images, labels = _batch(gpu)
    loader = [(images, labels, torch.arange(len(images)))]
    cache = FrozenImageCache(tmp_path)
    arguments = {"dataset": "Toy", "split": "test", "image_paths": [f"{i}.png" for i in range(4)], "transform": "t"}
    first = cache.features(backbone, loader=loader, **arguments)
    again = cache.features(backbone, loader=loader, **arguments)
    assert first.device.type == "cpu" and cache.hits == 1 and cache.misses == 1
    torch.testing.assert_close(again, first)
    with torch.no_grad():
        torch.testing.assert_close(first, backbone.encode_image(images, normalize=True).float().cpu())
