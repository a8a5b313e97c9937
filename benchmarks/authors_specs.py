"""What ``bench_authors.py`` needs to run each method's authors' trainer on the CPU in fp32.

One :class:`AuthorsSpec` per method: the repository and the commit its reference trace was made
from, the files copied out of the checkout, the trainer class, the config it reads (the published
prompt sizes, the same as ``bench_step.py --method NAME`` gives the library through the method's
defaults), the optimiser of the published config, and the CPU/fp32 source patches. A patch is
``(file, old, new, expected count)``: the benchmark stops when the count differs (another commit).
The only patches are dropped ``.cuda()`` calls and dropped or reversed ``.half()`` casts, which are
no-ops for the fp32 arithmetic on a GPU too (the reference traces' READMEs list the same ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Patch = tuple[str, str, str, int]

# clip/model.py of the IVLP/MaPLe family: the deeper prompts of the IVLP and the MaPLe blocks (two
# casts each, both blocks in one file) and the first-layer visual prompts are cast to fp16.
_DEEP_PROMPT_HALF: Patch = (
    "clip/model.py",
    ".expand(x.shape[1], -1, -1).permute(1, 0, 2).half()",
    ".expand(x.shape[1], -1, -1).permute(1, 0, 2)",
    4,
)
_VPT_HALF: Patch = (
    "clip/model.py",
    "visual_ctx = self.VPT.expand(x.shape[0], -1, -1).half()",
    "visual_ctx = self.VPT.expand(x.shape[0], -1, -1)",
    1,
)
_SHARED_CTX_HALF: Patch = (
    "clip/model.py",
    "visual_ctx = shared_ctx.expand(x.shape[0], -1, -1).half()",
    "visual_ctx = shared_ctx.expand(x.shape[0], -1, -1)",
    1,
)


@dataclass(frozen=True)
class AuthorsSpec:
    repository: str  # github owner/name
    commit: str  # the commit of the reference trace (bench_authors records the checkout's own)
    trainer_file: str  # relative to code_root
    trainer_class: str
    trainer_config: dict[str, Any]  # cfg.TRAINER
    optim: dict[str, Any]  # cfg.OPTIM (published)
    patches: tuple[Patch, ...] = ()
    code_root: str = ""  # the folder of the repository that holds trainers/ and clip/
    extra_files: tuple[str, ...] = ()  # files or folders copied besides the trainer and clip/
    two_views: bool = False  # the trainer takes batch["img"] as a list of two augmented views
    descriptions_file: str | None = None  # a gpt_file/*.json of per-class descriptions it reads
    dataset: str = "Caltech101"  # cfg.DATASET.NAME: picks per-dataset templates and description files
    published_batch: int = 4


COOP_REPO = ("KaiyangZhou/CoOp", "ff61507c790454bce7c5052c3ac39e60772f1f89")
MPL_REPO = ("muzairkhattak/multimodal-prompt-learning", "69bce21ae8eda80ad6187534b2dce09cf6c59e17")
_COOP_SECTION = {"N_CTX": 16, "CSC": False, "CTX_INIT": "", "PREC": "fp32", "CLASS_TOKEN_POSITION": "end"}
_SGD = {"NAME": "sgd", "WEIGHT_DECAY": 5e-4, "MAX_EPOCH": 5}

SPECS: dict[str, AuthorsSpec] = {
    "coop": AuthorsSpec(
        *COOP_REPO,
        trainer_file="trainers/coop.py",
        trainer_class="CoOp",
        trainer_config={"COOP": _COOP_SECTION},
        optim={**_SGD, "LR": 0.002, "MAX_EPOCH": 200},
        published_batch=32,
    ),
    "cocoop": AuthorsSpec(
        *COOP_REPO,
        trainer_file="trainers/cocoop.py",
        trainer_class="CoCoOp",
        trainer_config={"COCOOP": {"N_CTX": 16, "CTX_INIT": "a photo of a", "PREC": "fp32"}},
        optim={**_SGD, "LR": 0.002, "MAX_EPOCH": 10},
        published_batch=1,
    ),
    "kgcoop": AuthorsSpec(
        "htyao89/KgCoOp",
        "c43ccc32c8739f64b165cfa205fcc6c0f5bb5b17",
        code_root="KgCoOp",
        trainer_file="trainers/kgcoop.py",
        trainer_class="KgCoOp",
        trainer_config={
            "COOP": {**_COOP_SECTION, "N_CTX": 4, "CTX_INIT": "a photo of a", "W": 8.0},
            "COCOOP": {"PREC": "fp32"},
        },
        optim={**_SGD, "LR": 0.002, "MAX_EPOCH": 100},
        patches=(
            ("trainers/kgcoop.py", "clip_model_.cuda()", "clip_model_.float()", 1),
            ("trainers/kgcoop.py", "prompts_ = prompts_.cuda()", "prompts_ = prompts_", 1),
        ),
        published_batch=32,
    ),
    "tcp": AuthorsSpec(
        "htyao89/Textual-based_Class-aware_prompt_tuning",
        "bd97bec6bd4901baaf318e9e8f073f618d12066e",
        trainer_file="trainers/tcp.py",
        trainer_class="TCP",
        trainer_config={"COOP": {**_COOP_SECTION, "N_CTX": 4, "W": 1.0}, "COCOOP": {"PREC": "fp32"}},
        optim={"NAME": "adam", "LR": 0.002, "WEIGHT_DECAY": 5e-4, "EPS": 1e-3, "MAX_EPOCH": 50},
        patches=(
            ("trainers/tcp.py", "clip_model_.cuda()", "clip_model_.float()", 1),
            ("trainers/tcp.py", "prompts_ = prompts_.cuda()", "prompts_ = prompts_", 1),
        ),
        extra_files=("trainers/clip_text",),
        published_batch=32,
    ),
    "maple": AuthorsSpec(
        *MPL_REPO,
        trainer_file="trainers/maple.py",
        trainer_class="MaPLe",
        trainer_config={"MAPLE": {"N_CTX": 2, "CTX_INIT": "a photo of a", "PREC": "fp32", "PROMPT_DEPTH": 9}},
        optim={**_SGD, "LR": 0.0035},
        patches=(
            _DEEP_PROMPT_HALF,
            _SHARED_CTX_HALF,
            ("trainers/maple.py", "self.proj.half()", "self.proj.float()", 1),
        ),
    ),
    "ivlp": AuthorsSpec(
        *MPL_REPO,
        trainer_file="trainers/independentVL.py",
        trainer_class="IVLP",
        trainer_config={
            "IVLP": {
                "N_CTX_TEXT": 2,
                "N_CTX_VISION": 2,
                "CTX_INIT": "a photo of a",
                "PREC": "fp32",
                "PROMPT_DEPTH_TEXT": 12,
                "PROMPT_DEPTH_VISION": 12,
            }
        },
        optim={**_SGD, "LR": 0.0035},
        patches=(_DEEP_PROMPT_HALF, _VPT_HALF, _SHARED_CTX_HALF),
    ),
    "promptsrc": AuthorsSpec(
        "muzairkhattak/PromptSRC",
        "bb95c77b634d63488f2cad81ff4a72d53bdd06d5",
        trainer_file="trainers/promptsrc.py",
        trainer_class="PromptSRC",
        trainer_config={
            "PROMPTSRC": {
                "N_CTX_VISION": 4,
                "N_CTX_TEXT": 4,
                "CTX_INIT": "a photo of a",
                "PREC": "fp32",
                "PROMPT_DEPTH_VISION": 9,
                "PROMPT_DEPTH_TEXT": 9,
                "TEXT_LOSS_WEIGHT": 25,
                "IMAGE_LOSS_WEIGHT": 10,
                "GPA_MEAN": 15,
                "GPA_STD": 1,
            }
        },
        optim={**_SGD, "LR": 0.0025, "MAX_EPOCH": 20},
        patches=(
            _DEEP_PROMPT_HALF,
            _VPT_HALF,
            _SHARED_CTX_HALF,
            (
                "trainers/promptsrc.py",
                "clip_model_temp = load_clip_to_cpu(cfg, True).float().cuda()",
                "clip_model_temp = load_clip_to_cpu(cfg, True).float()",
                1,
            ),
            (
                "trainers/promptsrc.py",
                "clip_model_temp_image = load_clip_to_cpu(cfg, True)\n",
                "clip_model_temp_image = load_clip_to_cpu(cfg, True).float()\n",
                1,
            ),
            (
                "trainers/promptsrc.py",
                "clip_model_temp.encode_text(x_tokenized.cuda())",
                "clip_model_temp.encode_text(x_tokenized)",
                1,
            ),
            (
                "trainers/promptsrc.py",
                "zero_shot_features.cuda() @ fixed_embeddings.half().cuda().t()",
                "zero_shot_features @ fixed_embeddings.t()",
                1,
            ),
            ("trainers/promptsrc.py", "zs_clip_text_embeddings.cuda()", "zs_clip_text_embeddings", 1),
            ("trainers/promptsrc.py", "zs_image_embedd.cuda()", "zs_image_embedd", 1),
        ),
        extra_files=("trainers/imagenet_templates.py",),
    ),
    "mma": AuthorsSpec(
        "ZjjConan/Multi-Modal-Adapter",
        "547ee345a4dc5d60d43d3aa54e8eee50a107f591",
        trainer_file="trainers/mmadapter.py",
        trainer_class="MultiModalAdapter",
        trainer_config={
            "MMADAPTER": {
                "TEXT_CTX_INIT": "a photo of a",
                "ADAPTER_START": 5,
                "ADAPTER_END": 12,
                "ADAPTER_DIM": 32,
                "ADAPTER_SCALE": 0.001,
                "PREC": "fp32",
            }
        },
        optim={**_SGD, "LR": 0.0015},
        published_batch=16,
    ),
    "coprompt": AuthorsSpec(
        "ShuvenduRoy/CoPrompt",
        "a2a6c12e3622cfe4b3a127f4ba0c4f3eb841418c",
        trainer_file="trainers/coprompt.py",
        trainer_class="CoPrompt",
        trainer_config={
            "CoPrompt": {"N_CTX": 2, "CTX_INIT": "a photo of a", "PREC": "fp32", "PROMPT_DEPTH": 9},
            "W": 1.0,
            "DISTILL": "cosine",
        },
        optim={**_SGD, "LR": 0.0035, "MAX_EPOCH": 8},
        patches=(
            ("clip/model.py", ".permute(1, 0, 2)\n                            .half()", ".permute(1, 0, 2)", 2),
            _SHARED_CTX_HALF,
        ),
        extra_files=("trainers/constants.py", "trainers/imagenet_templates.py"),
        two_views=True,
        descriptions_file="gpt_file/caltech_prompt.json",
    ),
    "hicropl": AuthorsSpec(
        "zzeoZheng/HiCroPL",
        "2c2b2f2cd39a27e4f9862a202c402e31484b0ef3",
        trainer_file="trainers/hicropl.py",
        trainer_class="HiCroPL",
        trainer_config={
            "HICROPL": {
                "N_CTX": 16,
                "CTX_INIT": "",
                "PROMPT_DEPTH": 12,
                "CROSS_LAYER": 6,
                "PREC": "fp32",
                "TEACHER_NAME": "ViT-B/16",
                "LAMBD": 12.0,
            },
            "IVLP": {"PREC": "fp32"},
        },
        optim={"NAME": "adam", "LR": 0.0025, "WEIGHT_DECAY": 5e-4, "EPS": 1e-3, "MAX_EPOCH": 20},
        patches=(
            (
                "trainers/hicropl.py",
                "load_clip_to_cpu(cfg, True).float().cuda()",
                "load_clip_to_cpu(cfg, True).float()",
                1,
            ),
            (
                "trainers/hicropl.py",
                "clip_model_temp_image = load_clip_to_cpu_teacher(cfg, True)\n",
                "clip_model_temp_image = load_clip_to_cpu_teacher(cfg, True).float()\n",
                1,
            ),
            (
                "trainers/hicropl.py",
                "self.prompt_learner.fixed_embeddings.half()",
                "self.prompt_learner.fixed_embeddings",
                1,
            ),
            ("clip/model.py", ".permute(1, 0, 2).half()", ".permute(1, 0, 2)", 6),
            (
                "clip/model.py",
                "visual_ctx = img_prompts.expand(x.shape[0], -1, -1).half()",
                "visual_ctx = img_prompts.expand(x.shape[0], -1, -1)",
                1,
            ),
        ),
        extra_files=("trainers/imagenet_templates.py",),
        descriptions_file="gpt_file/caltech_prompt.json",
    ),
}
