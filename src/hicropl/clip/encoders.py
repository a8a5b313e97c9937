"""Prompt-able CLIP encoders: one forward loop over open_clip's own transformer blocks.

The encoders know nothing about methods. A method hands them per-layer prompt tensors through two
typed injection points:

* :class:`ImagePrompts` -- ``layers[0]`` is appended after CLS+patches (after the positional
  embedding, before ``ln_pre``); ``layers[i]`` (i >= 1) replaces the last ``m`` tokens before block i.
  Only the class token leaves the tower, so the image encoder skips the queries, attention outputs
  and MLPs of positions nobody reads: prompt positions that the next block replaces, and every
  position but CLS in the last block. Their keys and values are still computed.
* :class:`TextPrompts` -- ``layers[0]`` is the first-layer context written at positions
  ``start .. start+m-1`` of the token embeddings (before the positional embedding); ``layers[i]``
  replaces those positions before block i. ``embeddings`` lets a method supply the whole first-layer
  input instead (e.g. CoOp with the class token in front or in the middle).

A prompt is ``[m, d]`` (shared by every sequence in the batch) or ``[N, m, d]`` (one per sequence:
per class when the sequences are the class prompts, as TCP's class-aware tokens at one deep layer).
``None`` at a deeper layer keeps whatever the previous block produced at those positions.

A third injection point, :class:`SideBranches`, adds position-wise branches in parallel to the tower
(both towers take one): ``layers[0]`` on the tower's input (text: the token embeddings, before the
positional embedding; image: the ``ln_pre`` output), ``layers[i]`` (i >= 1) beside block i (1-based,
``resblocks[i-1]``), whose output becomes ``block(x) + scale * branch(ln_1(x))``. Because a branch
reads each position on its own, every fast path below stays exact with branches: the image tower
runs them on the positions it keeps, the text tower on its truncated or shared-prefix rows.

Blocks whose MLP uses QuickGELU (OpenAI weights) compute ``z * sigmoid(1.702 z)`` as
``silu(1.702 z) / 1.702`` with the scalings folded into the layer norm, the biases and the residual
add: one fused elementwise kernel instead of three, and one saved activation fewer for the backward.

Every fast path here equals the plain computation in exact arithmetic but rounds differently
(~1e-6 relative in fp32). ``reference_order = True`` on an encoder switches them all off, so that it
agrees element by element with the authors' code (their golden traces). It is a property of the
backbone, not of a method: set it with :attr:`CLIPBackbone.reference_order` (or the engine's
``train.reference_order``) and every method runs under it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from hicropl.errors import DataError

# open_clip's blocks, towers and models. open_clip ships no type information, and torch types a
# submodule attribute as ``Tensor | Module``, so the attribute paths of open_clip's modules are
# typed ``Any`` here rather than cast at every use.
OpenClipBlock = Any
OpenClipModule = Any

PromptLayers = Sequence[torch.Tensor | None]


@dataclass
class ImagePrompts:
    layers: PromptLayers = field(default_factory=list)


@dataclass
class TextPrompts:
    layers: PromptLayers = field(default_factory=list)
    start: int = 1
    embeddings: torch.Tensor | None = None


# A side branch maps ``[N, L, d]`` to ``[N, L, d]`` position by position (each output token depends on
# that token's input only); the fast paths rely on it.
SideBranch = Callable[[torch.Tensor], torch.Tensor]
# (block, x, attn_mask, keep, fused_mlp) -> the block's output at the first ``keep`` positions.
_BlockForward = Callable[[OpenClipBlock, torch.Tensor, torch.Tensor | None, int, bool], torch.Tensor]


@dataclass
class SideBranches:
    """Parallel side branches: ``layers[0]`` on the tower's input, ``layers[i]`` beside block i
    (1-based), ``None`` where a layer has none; ``scale`` multiplies every branch output."""

    layers: Sequence[SideBranch | None] = field(default_factory=list)
    scale: float = 1.0


def _branch(branches: SideBranches | None, index: int) -> SideBranch | None:
    if branches is None or index >= len(branches.layers):
        return None
    return branches.layers[index]


def _check_branch_depth(branches: SideBranches | None, n_blocks: int, what: str) -> None:
    if branches is not None and len(branches.layers) > n_blocks + 1:
        raise ValueError(
            f"{what} side branches given for {len(branches.layers)} layers but the encoder has {n_blocks} blocks "
            f"(layer 0 is its input, at most {n_blocks + 1})"
        )


def _with_input_branch(x: torch.Tensor, branch: SideBranch | None, scale: float) -> torch.Tensor:
    """``x + scale * branch(x)`` (the layer-0 branch), or ``x``."""
    return x if branch is None else x + scale * branch(x).to(x.dtype)


def _beside_block(forward: _BlockForward, branch: SideBranch, scale: float) -> _BlockForward:
    """``forward`` plus the side branch on ``ln_1`` of the positions it keeps (the branch is
    position-wise, so the kept positions' branch outputs are exact)."""

    def run(
        block: OpenClipBlock, x: torch.Tensor, attn_mask: torch.Tensor | None, keep: int, fused: bool
    ) -> torch.Tensor:
        side = branch(block.ln_1(x[:, :keep]))
        return forward(block, x, attn_mask, keep, fused) + scale * side.to(x.dtype)

    return run


def _batched(prompt: torch.Tensor, batch: int, dtype: torch.dtype) -> torch.Tensor:
    prompt = prompt.to(dtype)
    if prompt.dim() == 2:
        return prompt.unsqueeze(0).expand(batch, -1, -1)
    if prompt.shape[0] != batch:
        raise ValueError(f"per-sequence prompt has {prompt.shape[0]} rows for a batch of {batch}")
    return prompt


def _layer(layers: PromptLayers, index: int) -> torch.Tensor | None:
    return layers[index] if index < len(layers) else None


def _check_depth(layers: PromptLayers, n_blocks: int, what: str) -> None:
    if len(layers) > n_blocks:
        raise ValueError(f"{what} prompts given for {len(layers)} layers but the encoder has {n_blocks}")


class _BlockRunner(nn.Module):
    """Runs open_clip residual blocks, optionally with activation checkpointing.

    ``fuse_mlp = False`` keeps open_clip's QuickGELU module (for benchmarks and tests).
    ``reference_order = True`` switches off every reordering fast path of the encoder (the fused MLP,
    and the image tower's query pruning or the text tower's truncation and shared prefix)."""

    fuse_mlp: bool = True

    def __init__(self) -> None:
        super().__init__()
        self.gradient_checkpointing = False
        self.reference_order = False

    def run(
        self,
        block: OpenClipBlock,
        x: torch.Tensor,
        attn_mask: torch.Tensor | None,
        keep: int | None = None,
        plain: bool = False,
        branch: SideBranch | None = None,
        branch_scale: float = 1.0,
    ) -> torch.Tensor:
        """Block output for the first ``keep`` positions (all when ``None``); every position still
        serves as a key and value. ``plain`` keeps open_clip's MLP for this call. ``branch``: a side
        branch beside the block (inside the checkpointed segment when checkpointing)."""
        keep = x.shape[1] if keep is None else keep
        fused = self.fuse_mlp and not (plain or self.reference_order)
        forward: _BlockForward = _batch_first_block if _supports_split_attention(block) else _module_block
        if branch is not None:
            forward = _beside_block(forward, branch, branch_scale)
        if self.gradient_checkpointing and torch.is_grad_enabled() and x.requires_grad:
            return checkpoint(forward, block, x, attn_mask, keep, fused, use_reentrant=False)
        return forward(block, x, attn_mask, keep, fused)


def _module_block(
    block: OpenClipBlock, x: torch.Tensor, attn_mask: torch.Tensor | None, keep: int, fused_mlp: bool = False
) -> torch.Tensor:
    return block(x, attn_mask=attn_mask)[:, :keep]


_QUICK_GELU_SCALE = 1.702


def _mlp_residual(block: OpenClipBlock, x: torch.Tensor, fused: bool) -> torch.Tensor:
    """``x + ls_2(mlp(ln_2(x)))``.

    Fused QuickGELU: with s = 1.702, scaling ln_2's affine parameters and c_fc's bias by s gives
    u = s*z for the MLP's pre-activation z; silu(u) = s*z*sigmoid(s*z) = s*QuickGELU(z); scaling
    c_proj's bias by s gives s times the MLP output, divided out in the residual add. Only vectors
    are rescaled, so no extra pass over a [tokens, 4*width] activation remains, forward or backward.
    """
    if not (fused and _has_fusable_mlp(block)):
        return x + block.ls_2(block.mlp(block.ln_2(x)))
    ln, fc, proj = block.ln_2, block.mlp.c_fc, block.mlp.c_proj
    s = _QUICK_GELU_SCALE
    scaled = F.layer_norm(x, ln.normalized_shape, ln.weight * s, ln.bias * s, ln.eps).to(x.dtype)
    out = F.linear(F.silu(F.linear(scaled, fc.weight, fc.bias * s)), proj.weight, proj.bias * s)
    return torch.add(x, out.to(x.dtype), alpha=1.0 / s)


def _has_fusable_mlp(block: OpenClipBlock) -> bool:
    mlp, ln = getattr(block, "mlp", None), getattr(block, "ln_2", None)
    if not isinstance(mlp, nn.Sequential) or [name for name, _ in mlp.named_children()] != ["c_fc", "gelu", "c_proj"]:
        return False
    linear = all(isinstance(layer, nn.Linear) and layer.bias is not None for layer in (mlp.c_fc, mlp.c_proj))
    # open_clip's LayerNorm or torch's, with affine parameters (LayerNormFp32 changes the dtype path).
    if not isinstance(ln, nn.LayerNorm) or type(ln).__name__ != "LayerNorm":
        return False
    norm = ln.weight is not None and ln.bias is not None
    return linear and norm and type(mlp.gelu).__name__ == "QuickGELU" and isinstance(block.ls_2, nn.Identity)


def _batch_first_block(
    block: OpenClipBlock, x: torch.Tensor, attn_mask: torch.Tensor | None, keep: int, fused_mlp: bool = False
) -> torch.Tensor:
    """The block's own computation with its own weights, kept batch-first. nn.MultiheadAttention's
    training path transposes to sequence-first, which turns the QKV projection and its backward into
    batched matmuls over an expanded weight (about 40% slower than one matmul on CPU)."""
    attn = block.attn
    hidden = block.ln_1(x)
    if keep == x.shape[1]:
        q, k, v = F.linear(hidden, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    else:
        width = x.shape[-1]
        weight, bias = attn.in_proj_weight, attn.in_proj_bias
        q = F.linear(hidden[:, :keep], weight[:width], bias[:width])
        k, v = F.linear(hidden, weight[width:], bias[width:]).chunk(2, dim=-1)
        x = x[:, :keep]
        attn_mask = attn_mask[:keep] if attn_mask is not None else None
    x = x + block.ls_1(_attention(block, q, k, v, attn_mask))
    return _mlp_residual(block, x, fused_mlp)


def _check_image_size(images: torch.Tensor, visual: OpenClipModule) -> None:
    """One line naming the expected size, instead of a tensor-size mismatch inside the positional embedding."""
    size = (
        tuple(int(s) for s in visual.image_size) if isinstance(visual.image_size, tuple) else (visual.image_size,) * 2
    )
    if images.dim() != 4 or tuple(images.shape[-2:]) != size:
        got = ", ".join(str(s) for s in images.shape)
        raise DataError(
            f"This CLIP takes images of shape [batch, 3, {size[0]}, {size[1]}] ({size[0]} px), not [{got}]: resize "
            f"them to {size[0]} px first, e.g. with the test transform "
            "hicropl.data.transforms.build_transform(False, backbone.preprocessing.image_size)."
        )


class PromptedImageEncoder(_BlockRunner):
    """CLIP's ViT image tower, re-run with optional prompt tokens.

    ``prune_queries = False`` computes every position in every block (for benchmarks and tests)."""

    prune_queries: bool = True

    def __init__(self, visual: OpenClipModule) -> None:
        super().__init__()
        unsupported = []
        if getattr(visual, "attn_pool", None) is not None:
            unsupported.append("attention pooling")
        if getattr(visual, "pool_type", "tok") != "tok":
            unsupported.append(f"pool_type={visual.pool_type!r}")
        if getattr(visual, "final_ln_after_pool", False):
            unsupported.append("final_ln_after_pool")
        if not getattr(visual.transformer, "batch_first", True):
            unsupported.append("sequence-first transformer")
        if not hasattr(visual, "conv1"):
            unsupported.append("non-ViT image tower")
        if unsupported:
            raise ValueError(f"prompted image encoding supports standard CLIP ViTs only; got {', '.join(unsupported)}")
        # Plain attribute assignment would register a second parent for the modules; keep a list.
        self._visual = [visual]

    @property
    def visual(self) -> OpenClipModule:
        return self._visual[0]

    @property
    def width(self) -> int:
        return int(self.visual.conv1.weight.shape[0])

    @property
    def layers(self) -> int:
        return len(self.visual.transformer.resblocks)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Patch + class embeddings with positions: ``[B, 1 + n_patches, width]``."""
        v = self.visual
        _check_image_size(images, v)
        x = v.conv1(images.to(v.conv1.weight.dtype))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = v.class_embedding.to(x.dtype).view(1, 1, -1).expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)

    def forward(
        self,
        images: torch.Tensor,
        prompts: ImagePrompts | None = None,
        normalize: bool = False,
        branches: SideBranches | None = None,
    ) -> torch.Tensor:
        v = self.visual
        layers = prompts.layers if prompts is not None else ()
        _check_depth(layers, self.layers, "image")
        _check_branch_depth(branches, self.layers, "image")
        scale = branches.scale if branches is not None else 1.0
        x = self.embed(images)
        batch = x.shape[0]
        first = _layer(layers, 0)
        if first is not None:
            x = torch.cat([x, _batched(first, batch, x.dtype)], dim=1)
        x = _with_input_branch(v.ln_pre(x), _branch(branches, 0), scale)
        prune = self.prune_queries and not self.reference_order
        blocks = v.transformer.resblocks
        dropped = 0  # trailing prompt positions the previous block did not compute
        for index, block in enumerate(blocks):
            deep = _layer(layers, index) if index > 0 else None
            if deep is not None:
                m = deep.shape[-2]
                kept = x if dropped else x[:, : x.shape[1] - m]
                x = torch.cat([kept, _batched(deep, batch, x.dtype)], dim=1)
            keep = x.shape[1]
            if prune:
                following = _layer(layers, index + 1)
                if index == len(blocks) - 1:
                    keep = 1
                elif following is not None:
                    keep = x.shape[1] - following.shape[-2]
            dropped = x.shape[1] - keep
            x = self.run(block, x, None, keep, branch=_branch(branches, index + 1), branch_scale=scale)
        pooled = v.ln_post(x[:, 0])
        features = pooled @ v.proj if v.proj is not None else pooled
        return F.normalize(features, dim=-1) if normalize else features


def _supports_split_attention(block: OpenClipBlock) -> bool:
    attn = getattr(block, "attn", None)
    return (
        isinstance(attn, nn.MultiheadAttention)
        and attn._qkv_same_embed_dim
        and attn.in_proj_bias is not None
        and not hasattr(block, "ln_1_kv")
    )


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    n, length, width = x.shape
    return x.view(n, length, heads, width // heads).transpose(1, 2)


def _attention(
    block: OpenClipBlock, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None
) -> torch.Tensor:
    attn = block.attn
    heads = attn.num_heads
    out = F.scaled_dot_product_attention(_heads(q, heads), _heads(k, heads), _heads(v, heads), attn_mask=mask)
    out = out.transpose(1, 2).reshape(q.shape)
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


def _prefix_suffix_block(
    block: OpenClipBlock,
    prefix: torch.Tensor,
    suffixes: list[torch.Tensor],
    prefix_mask: torch.Tensor,
    suffix_masks: list[torch.Tensor],
    fused_mlp: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One residual block over a prefix shared by all sequences ``[1, P, d]`` and groups of
    per-sequence suffixes ``[C_g, S_g, d]``: each suffix attends to the shared prefix keys/values
    plus its own."""
    attn = block.attn
    q_p, k_p, v_p = F.linear(block.ln_1(prefix), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    outputs = []
    for suffix, mask in zip(suffixes, suffix_masks, strict=True):
        q_s, k_s, v_s = F.linear(block.ln_1(suffix), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        count = suffix.shape[0]
        keys = torch.cat([k_p.expand(count, -1, -1), k_s], dim=1)
        values = torch.cat([v_p.expand(count, -1, -1), v_s], dim=1)
        suffix = suffix + block.ls_1(_attention(block, q_s, keys, values, mask))
        outputs.append(_mlp_residual(block, suffix, fused_mlp))
    prefix = prefix + block.ls_1(_attention(block, q_p, k_p, v_p, prefix_mask))
    return _mlp_residual(block, prefix, fused_mlp), outputs


# A separate group re-reads every layer's weights (12.6 MB per layer at CLIP's text width) in the
# forward and again in the backward, plus its own kernel launches. On two CPU cores that measured
# 20-75 ms per extra group, the work of about 64 token rows (DescribableTextures' 47 names: two
# groups saving 36 rows were slower than one). CUDA: not measured (no GPU was available); a few
# hundred extra rows are nearly free there, so a group must save about a thousand.
GROUP_COST_IN_ROWS = {"cpu": 64, "cuda": 1024}


def length_groups(lengths: torch.Tensor, group_cost: int | None = None) -> list[tuple[torch.Tensor, int]]:
    """Partition sequences by length to cut padding: ``[(row indices, group length), ...]``.

    Groups are contiguous ranges of the sorted distinct lengths, chosen by dynamic programming to
    minimise the padded rows (rows x group length) plus ``group_cost`` rows per extra group (by
    default :data:`GROUP_COST_IN_ROWS` for the device of ``lengths``).
    """
    if group_cost is None:
        group_cost = GROUP_COST_IN_ROWS.get(lengths.device.type, GROUP_COST_IN_ROWS["cuda"])
    host = lengths.cpu()
    values, counts = torch.unique(host, sorted=True, return_counts=True)
    sizes, totals = values.tolist(), counts.cumsum(0).tolist()
    best = [0.0] + [float("inf")] * len(sizes)
    cut = [0] * (len(sizes) + 1)
    for end in range(1, len(sizes) + 1):
        for start in range(end):
            rows = totals[end - 1] - (totals[start - 1] if start else 0)
            cost = best[start] + rows * sizes[end - 1] + (group_cost if start else 0)
            if cost < best[end]:
                best[end], cut[end] = cost, start
    bounds, end = [], len(sizes)
    while end:
        bounds.append((cut[end], end))
        end = cut[end]
    groups = []
    for start, end in reversed(bounds):
        rows = torch.nonzero((host >= sizes[start]) & (host <= sizes[end - 1])).flatten()
        groups.append((rows.to(lengths.device), int(sizes[end - 1])))
    return groups


class PromptedTextEncoder(_BlockRunner):
    """CLIP's causal text transformer, re-run with optional prompts and exact truncation.

    The sequence is cut after the longest EOT position in the batch: under the causal mask later
    tokens cannot influence the EOT feature, so the result equals the full-length computation.

    Shared-prefix encoding: when the first-layer context is a single ``[m, d]`` tensor at positions
    1..m, positions 0..m (SOS + context) are identical for every sequence (the causal mask keeps them
    from seeing the class tokens) up to the first deep prompt that is not a single ``[m, d]`` tensor
    (one per sequence, such as per-class tokens, or another length). Until that layer they are computed
    once per layer, and each sequence's own positions attend to the shared prefix keys/values plus their
    own: (m+1) + N*(L-m-1) token-layers instead of N*L; from it on, every sequence continues in full,
    the shared states copied into it. This is derived from the prompt structure alone;
    ``share_prefix = False`` switches it off (for benchmarks). Sequences are further grouped by length
    (:func:`length_groups`), each group cut after its own longest EOT, so short class names do not pay
    for the longest one's padding. Text encoded with side branches and no prompt shares its common
    leading tokens (fixed text such as "a photo of a") the same way (``_common_token_prefix``).
    """

    share_prefix: bool = True
    truncate: bool = True  # instance default for calls that do not say; benchmarks switch it off
    group_lengths: bool = True  # shared-prefix suffixes grouped by length (see length_groups)

    def __init__(self, clip: OpenClipModule) -> None:
        super().__init__()
        if getattr(clip, "text_pool_type", "argmax") != "argmax":
            raise ValueError(f"prompted text encoding needs argmax (EOT) pooling, not {clip.text_pool_type!r}")
        if not getattr(clip.transformer, "batch_first", True):
            raise ValueError("prompted text encoding needs a batch-first open_clip transformer")
        self._clip = [clip]

    @property
    def clip(self) -> OpenClipModule:
        return self._clip[0]

    @property
    def width(self) -> int:
        return int(self.clip.ln_final.weight.shape[0])

    @property
    def layers(self) -> int:
        return len(self.clip.transformer.resblocks)

    def token_embeddings(self, tokens: torch.Tensor) -> torch.Tensor:
        """Frozen token embeddings ``[N, L, width]`` (no positional embedding)."""
        return self.clip.token_embedding(tokens)

    def forward(
        self,
        tokens: torch.Tensor,
        prompts: TextPrompts | None = None,
        normalize: bool = False,
        truncate: bool | None = None,
        branches: SideBranches | None = None,
    ) -> torch.Tensor:
        clip = self.clip
        # Truncation is exact but changes the attention's summation length: not in the reference order.
        truncate = (self.truncate if truncate is None else truncate) and not self.reference_order
        layers = prompts.layers if prompts is not None else ()
        start = prompts.start if prompts is not None else 1
        _check_depth(layers, self.layers, "text")
        _check_branch_depth(branches, self.layers, "text")
        scale = branches.scale if branches is not None else 1.0
        eot = tokens.argmax(dim=-1)
        length = int(eot.max().item()) + 1 if truncate else tokens.shape[1]
        if prompts is not None and prompts.embeddings is not None:
            x = prompts.embeddings[:, :length]
        else:
            x = clip.token_embedding(tokens[:, :length])
        dtype = clip.positional_embedding.dtype
        x = x.to(dtype)
        count = x.shape[0]
        first = _layer(layers, 0)
        if first is not None:
            m = first.shape[-2]
            if start + m > length:
                raise ValueError(f"text prompt positions {start}..{start + m - 1} run past the EOT token")
            x = torch.cat([x[:, :start], _batched(first, count, dtype), x[:, start + m :]], dim=1)
        x = _with_input_branch(x, _branch(branches, 0), scale)
        x = x + clip.positional_embedding[:length].to(dtype)
        if self._can_share_prefix(layers, start, first, prompts):
            m = first.shape[-2]  # type: ignore[union-attr]
            pooled = self._shared_prefix_forward(x, layers, m, eot, branches)
            return self._project(pooled, normalize)
        common = self._common_token_prefix(tokens, eot, prompts, branches)
        if common:
            return self._project(self._shared_prefix_forward(x, (), common, eot, branches), normalize)
        mask = clip.attn_mask[:length, :length] if clip.attn_mask is not None else None
        # Prompt-free text features are computed once per class set, never per step: they keep
        # open_clip's own summation order.
        x = self._run_blocks(x, layers, start, mask, plain=prompts is None and branches is None, branches=branches)
        return self._project(x[torch.arange(count, device=x.device), eot], normalize)

    def _run_blocks(
        self,
        x: torch.Tensor,
        layers: PromptLayers,
        start: int,
        mask: torch.Tensor | None,
        first_block: int = 0,
        plain: bool = False,
        branches: SideBranches | None = None,
    ) -> torch.Tensor:
        """Blocks ``first_block`` onwards over whole sequences ``[N, L, d]``; each deep prompt replaces
        positions ``start..`` before its block, each side branch runs beside its block."""
        count, dtype = x.shape[0], x.dtype
        scale = branches.scale if branches is not None else 1.0
        blocks = self.clip.transformer.resblocks
        for index in range(first_block, len(blocks)):
            deep = _layer(layers, index) if index > 0 else None
            if deep is not None:
                m = deep.shape[-2]
                x = torch.cat([x[:, :start], _batched(deep, count, dtype), x[:, start + m :]], dim=1)
            x = self.run(blocks[index], x, mask, plain=plain, branch=_branch(branches, index + 1), branch_scale=scale)
        return x

    def _project(self, eot_states: torch.Tensor, normalize: bool) -> torch.Tensor:
        clip = self.clip
        pooled = clip.ln_final(eot_states)
        projection = clip.text_projection
        features = projection(pooled) if isinstance(projection, nn.Linear) else pooled @ projection
        return F.normalize(features, dim=-1) if normalize else features

    def _can_share_prefix(
        self, layers: PromptLayers, start: int, first: torch.Tensor | None, prompts: TextPrompts | None
    ) -> bool:
        if not self.share_prefix or prompts is None or self.reference_order:
            return False
        if prompts.embeddings is not None or start != 1:
            return False
        if first is None or first.dim() != 2:
            return False
        if self.clip.attn_mask is None:
            return False
        return all(_supports_split_attention(block) for block in self.clip.transformer.resblocks)

    def _common_token_prefix(
        self, tokens: torch.Tensor, eot: torch.Tensor, prompts: TextPrompts | None, branches: SideBranches | None
    ) -> int:
        """``m`` when positions 1..m hold the same tokens in every sequence (fixed text before the class
        name, e.g. "a photo of a") and the text is encoded with side branches only: those positions are
        then identical at every layer (causal mask, position-wise branches) and share a prefix; else 0.
        Prompt-free, branch-free features keep open_clip's own order (they are computed once)."""
        if branches is None or prompts is not None or not self.share_prefix or self.reference_order:
            return 0
        if tokens.shape[0] < 2 or self.clip.attn_mask is None:
            return 0
        if not all(_supports_split_attention(block) for block in self.clip.transformer.resblocks):
            return 0
        same = (tokens == tokens[:1]).all(dim=0)
        leading = int(same.long().cumprod(0).sum().item())  # SOS included
        return max(0, min(leading, int(eot.min().item())) - 1)  # every EOT stays out of the prefix

    def _shared_prefix_forward(
        self, x: torch.Tensor, layers: PromptLayers, m: int, eot: torch.Tensor, branches: SideBranches | None = None
    ) -> torch.Tensor:
        if int(eot.min().item()) <= m:
            raise ValueError("every EOT token must come after the shared prompt positions")
        width, p, device = x.shape[-1], m + 1, x.device
        prefix = x[:1, :p]
        # Each group of sequences is cut after its own longest EOT (the causal mask makes that exact).
        groups = length_groups(eot - m) if self.group_lengths else [(torch.arange(x.shape[0], device=device), 0)]
        suffixes, masks = [], []
        for rows, length in groups:
            suffix = x[rows, p : p + length] if length else x[rows, p:]
            n = suffix.shape[1]
            mask = torch.ones(n, p + n, dtype=torch.bool, device=device).tril(diagonal=p)
            suffixes.append(suffix)
            masks.append(mask)
        prefix_mask = torch.ones(p, p, dtype=torch.bool, device=device).tril()
        for index, block in enumerate(self.clip.transformer.resblocks):
            deep = _layer(layers, index) if index > 0 else None
            if deep is not None and not (deep.dim() == 2 and deep.shape[0] == m):
                pooled = self._unshared_from(index, prefix, suffixes, groups, layers, eot, branches)
                break
            if deep is not None:
                prefix = torch.cat([prefix[:, :1], deep.to(prefix.dtype).view(1, m, width)], dim=1)
            branch = _branch(branches, index + 1)
            # Position-wise, so the shared prefix's branch output is every sequence's.
            sides = [branch(block.ln_1(part)) for part in (prefix, *suffixes)] if branch is not None else []
            prefix, suffixes = _prefix_suffix_block(block, prefix, suffixes, prefix_mask, masks, self.fuse_mlp)
            if sides:
                scale = branches.scale  # type: ignore[union-attr]
                prefix = prefix + scale * sides[0].to(prefix.dtype)
                suffixes = [part + scale * side.to(part.dtype) for part, side in zip(suffixes, sides[1:], strict=True)]
        else:
            pooled = [
                suffix[torch.arange(len(rows), device=device), eot[rows] - p]
                for (rows, _), suffix in zip(groups, suffixes, strict=True)
            ]
        order = torch.cat([rows for rows, _ in groups]).argsort()
        return torch.cat(pooled)[order]

    def _unshared_from(
        self,
        first_block: int,
        prefix: torch.Tensor,
        suffixes: list[torch.Tensor],
        groups: list[tuple[torch.Tensor, int]],
        layers: PromptLayers,
        eot: torch.Tensor,
        branches: SideBranches | None = None,
    ) -> list[torch.Tensor]:
        """EOT states per length group when the prefix stops being shared at ``first_block``: each
        group's sequences whole (the shared prefix copied in front of their own positions) through the
        remaining blocks, causal mask cut to the group's length."""
        pooled = []
        for (rows, _), suffix in zip(groups, suffixes, strict=True):
            x = torch.cat([prefix.expand(len(rows), -1, -1), suffix], dim=1)
            length = x.shape[1]
            own = [
                layer if layer is None or layer.dim() == 2 else _batched(layer, len(eot), layer.dtype)[rows]
                for layer in layers
            ]
            mask = self.clip.attn_mask[:length, :length]
            x = self._run_blocks(x, own, 1, mask, first_block, branches=branches)
            pooled.append(x[torch.arange(len(rows), device=x.device), eot[rows]])
        return pooled
