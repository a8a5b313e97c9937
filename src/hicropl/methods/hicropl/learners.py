"""HiCroPL prompt learners: the paper's method and a bit-exact replica of the authors' code.

Both return ``(text_layers, visual_layers)``: one prompt tensor per prompted layer, ready for the
encoders' injection points. The paper learner computes mapped prompts differentiably and never
mutates state. The official learner reproduces the authors' ``CrossModalPromptLearner.forward``: it
writes mapper outputs into the prompt parameters through ``.data`` on every call (so autograd never
sees the mappers) and hands the parameters themselves to the encoders.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from hicropl.methods.hicropl.blocks import (
    KnowledgeMapper,
    KnowledgeProxy,
    MeanCompressor,
    MLPCompressor,
    single_scale_mask,
)

PromptPair = tuple[list[torch.Tensor], list[torch.Tensor]]


def flow_segments(flow: str, depth: int, boundary: int) -> list[tuple[str, range]]:
    """Which direction knowledge flows in which layers (0-indexed)."""
    first, second = range(0, boundary), range(boundary, depth)
    segments = {
        "t2i_i2t": [("t2i", first), ("i2t", second)],
        "i2t_t2i": [("i2t", first), ("t2i", second)],
        "t2i": [("t2i", range(0, depth))],
        "i2t": [("i2t", range(0, depth))],
    }[flow]
    return [(direction, layers) for direction, layers in segments if len(layers) > 0]


def _normal(shape: tuple[int, ...], std: float = 0.02) -> torch.Tensor:
    return torch.empty(*shape).normal_(std=std)


class PaperPromptLearner(nn.Module):
    """Per-layer text and visual prompts, per-layer proxies and LKPs, one mapper per direction."""

    def __init__(
        self,
        first_text: torch.Tensor,
        *,
        depth: int,
        boundary: int,
        text_width: int,
        vision_width: int,
        flow: str,
        multi_scale: bool,
        compression: str,
        heads: int,
    ) -> None:
        super().__init__()
        m = first_text.shape[0]
        self.n_ctx = m
        self.multi_scale = multi_scale
        self.segments = flow_segments(flow, depth, boundary)
        self.text_prompts = nn.ParameterList(
            [nn.Parameter(first_text.clone())] + [nn.Parameter(_normal((m, text_width))) for _ in range(depth - 1)]
        )
        self.visual_prompts = nn.ParameterList([nn.Parameter(_normal((m, vision_width))) for _ in range(depth)])
        directions = {direction for direction, _ in self.segments}
        source_layers = {
            "t2i": [layer for d, layers in self.segments if d == "t2i" for layer in layers],
            "i2t": [layer for d, layers in self.segments if d == "i2t" for layer in layers],
        }
        widths = {"t2i": (text_width, vision_width), "i2t": (vision_width, text_width)}
        self.compressors = nn.ModuleDict()
        self.proxies = nn.ParameterDict()
        self.mappers = nn.ModuleDict()
        for direction in sorted(directions):
            source_width, target_width = widths[direction]
            for layer in source_layers[direction]:
                key = f"{direction}_{layer}"
                self.proxies[key] = nn.Parameter(torch.randn(1, source_width))
                if compression == "lkp":
                    self.compressors[key] = KnowledgeProxy(source_width, heads)
                elif compression == "mlp":
                    self.compressors[key] = MLPCompressor(m, source_width)
                else:
                    self.compressors[key] = MeanCompressor()
            self.mappers[direction] = KnowledgeMapper(target_width, source_width, heads)
        if compression == "mean":
            # Mean pooling ignores the proxy tokens; keep them out of the optimiser.
            self.proxies.requires_grad_(False)

    def forward(self) -> PromptPair:
        text = list(self.text_prompts)
        visual = list(self.visual_prompts)
        for direction, layers in self.segments:
            source, target = (text, visual) if direction == "t2i" else (visual, text)
            pooled = torch.cat(
                [
                    self.compressors[f"{direction}_{layer}"](self.proxies[f"{direction}_{layer}"], source[layer])
                    for layer in layers
                ]
            )
            queries = torch.cat([target[layer] for layer in layers])
            mask = None if self.multi_scale else single_scale_mask(len(layers), self.n_ctx, queries.device)
            mapped = self.mappers[direction](queries, pooled, mask).view(len(layers), self.n_ctx, -1)
            for index, layer in enumerate(layers):
                target[layer] = mapped[index]
        return text, visual


class OfficialPromptLearner(nn.Module):
    """The authors' ``CrossModalPromptLearner``: same names, aliasing, and in-place writes."""

    def __init__(
        self, first_text: torch.Tensor, *, depth: int, boundary: int, text_width: int, vision_width: int
    ) -> None:
        super().__init__()
        m = first_text.shape[0]
        self.depth, self.boundary = depth, boundary
        self.ctx = nn.Parameter(first_text.clone())
        self.cross_prompts_text = nn.ParameterList(
            [self.ctx] + [nn.Parameter(_normal((m, text_width))) for _ in range(depth - 1)]
        )
        # One tensor wrapped D times: D optimiser handles, one storage (as in the authors' code).
        visual = _normal((m, vision_width))
        self.cross_prompts_visual = nn.ParameterList([nn.Parameter(visual) for _ in range(depth)])
        self.text2visual_net = KnowledgeMapper(vision_width, text_width, heads=8, quick_gelu=True)
        self.visual2text_net = KnowledgeMapper(text_width, vision_width, heads=8, quick_gelu=True)
        pool_text = KnowledgeProxy(text_width, heads=8)
        pool_visual = KnowledgeProxy(vision_width, heads=8)
        self.attn_pooling_text_nets = nn.ModuleList([copy.deepcopy(pool_text) for _ in range(boundary)])
        self.attn_pooling_visual_nets = nn.ModuleList([copy.deepcopy(pool_visual) for _ in range(depth - boundary)])
        text_proxy = torch.randn(1, text_width)
        visual_proxy = torch.randn(1, vision_width)
        self.text_proxy_token = nn.ParameterList([nn.Parameter(text_proxy) for _ in range(boundary)])
        self.visual_proxy_token = nn.ParameterList([nn.Parameter(visual_proxy) for _ in range(depth - boundary)])

    def forward(self) -> PromptPair:
        k, depth = self.boundary, self.depth
        text, visual = self.cross_prompts_text, self.cross_prompts_visual
        if k > 0:
            pooled = torch.cat([self.attn_pooling_text_nets[i](self.text_proxy_token[i], text[i]) for i in range(k)])
            queries = torch.cat([visual[i] for i in range(k)])
            mapped = self.text2visual_net(queries, pooled).view(k, -1, queries.shape[-1])
            for i in range(k):
                visual[i].data.copy_(mapped[i])
        if depth > k:
            pooled = torch.cat(
                [
                    self.attn_pooling_visual_nets[i - k](self.visual_proxy_token[i - k], visual[i])
                    for i in range(k, depth)
                ]
            )
            queries = torch.cat([text[i] for i in range(k, depth)])
            mapped = self.visual2text_net(queries, pooled).view(depth - k, -1, queries.shape[-1])
            for i in range(k, depth):
                text[i].data.copy_(mapped[i - k])
        return list(text), list(visual)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Exactly the handles the authors' Adam sees, in ``model.parameters()`` order."""
        return [p for p in self.parameters() if p.requires_grad]

    def restore_aliasing(self) -> None:
        """Re-tie handles that a state-dict load or device move may have split."""
        self.cross_prompts_text[0] = self.ctx
        shared = self.cross_prompts_visual[0].data
        for handle in list(self.cross_prompts_visual)[1:]:
            handle.data = shared
        for group in (self.text_proxy_token, self.visual_proxy_token):
            if len(group) > 1:
                for handle in list(group)[1:]:
                    handle.data = group[0].data
