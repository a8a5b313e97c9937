"""Datasets, splits and loaders: CoOp's 15 datasets, few-shot sampling, base/novel classes, protocols.

Typical use::

    from hicropl.data import build_dataset, sample_few_shot, subsample_classes, dataset_dir
    splits = build_dataset("OxfordPets", "~/data")
    splits = sample_few_shot(splits, shots=16, seed=1, cache_dir="~/.cache/hicropl",
                             dataset_dir=dataset_dir("OxfordPets", "~/data"))
    splits = subsample_classes(splits, "base")
"""

from hicropl.data.check import DatasetCheck, check_data_root, format_check_report, run_data_check
from hicropl.data.fewshot import FewShotResult, few_shot_split, sample_few_shot
from hicropl.data.files import check_images_exist, missing_images
from hicropl.data.loader import ImageDataset, load_image
from hicropl.data.protocols import Protocol, get_protocol, list_protocols
from hicropl.data.registry import (
    UnknownDatasetError,
    build_dataset,
    dataset_dir,
    get_dataset_spec,
    list_datasets,
    register_dataset,
    unregister_dataset,
)
from hicropl.data.resources import (
    descriptions_for,
    imagenet_classnames,
    load_llm_descriptions,
    load_split,
    reference_text_embeddings,
    resource_checksums,
)
from hicropl.data.safe_pickle import UnsafePickleError
from hicropl.data.spec import DatasetSpec, SplitCounts
from hicropl.data.subsample import subsample_classes
from hicropl.data.transforms import CLIP_MEAN, CLIP_STD, build_transform, transform_fingerprint
from hicropl.data.types import DatasetSplits, Datum

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "DatasetCheck",
    "DatasetSpec",
    "DatasetSplits",
    "Datum",
    "FewShotResult",
    "ImageDataset",
    "Protocol",
    "SplitCounts",
    "UnknownDatasetError",
    "UnsafePickleError",
    "build_dataset",
    "build_transform",
    "check_data_root",
    "check_images_exist",
    "dataset_dir",
    "descriptions_for",
    "few_shot_split",
    "format_check_report",
    "get_dataset_spec",
    "get_protocol",
    "imagenet_classnames",
    "list_datasets",
    "list_protocols",
    "load_image",
    "load_llm_descriptions",
    "load_split",
    "missing_images",
    "reference_text_embeddings",
    "register_dataset",
    "resource_checksums",
    "run_data_check",
    "sample_few_shot",
    "subsample_classes",
    "transform_fingerprint",
    "unregister_dataset",
]
