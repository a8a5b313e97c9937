"""Data shipped with the package: CoOp splits, ImageNet class names, LLM descriptions, reference embeddings.

Every file is verified against a SHA-256 kept in this module before use, so a damaged install or
an edited file is reported instead of silently changing results. The digests are those of the
files' *content* (after gunzip for ``.gz``), which are also the digests of the upstream files
listed in ``SOURCES.md``: anyone can check provenance with ``sha256sum``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from importlib import resources as _resources
from pathlib import Path
from typing import Any

import numpy as np

from hicropl.errors import DataError

# Content digests (SHA-256 of the uncompressed bytes), keyed by path inside this package folder.
CHECKSUMS: dict[str, str] = {
    "llm_descriptions/caltech_prompt.json.gz": "e98b2b4809f04d9055296696518a78584d4252235d523e3093e9c52b3dba7564",
    "llm_descriptions/dtd_prompt.json.gz": "5dd358b0bd09c98d6d4d6ed4d5048f5c1d4dddc24cf3a8c69d45bb4d68287991",
    "llm_descriptions/eurosat_prompt.json.gz": "a6aaa8850fd902ed74bfab940e5aac2f1b3ebfdecf7b3c6fb2201c91c9339e06",
    "llm_descriptions/fgvc_prompt.json.gz": "a29ddbf5c1cab48b6fbcbb9e4930df55e69f83d20d0fc508969d7c75a2457fa2",
    "llm_descriptions/food101_prompt.json.gz": "a9564b8e8e371b06416f7ae9e5508853431fb3eae6a4212843802bd07e1a8c0d",
    "llm_descriptions/oxford_flowers_prompt.json.gz": (
        "0202f638ed18a2633375f84175b3db70bfc14927c6c82d57a87d42a1e722f844"
    ),
    "llm_descriptions/oxford_pets_prompt.json.gz": "14a697c4e72e0115189b501a4be64ef033bf94fcb540819632cb34afe9d29ff2",
    "llm_descriptions/stanford_cars_prompt.json.gz": (
        "3505d5d67a06b76af14e3e74d6543da3d59aa4b29869a30cbbb56adbc751fe8e"
    ),
    "llm_descriptions/sun397_prompt.json.gz": "f743422d1786b66b019c4f7d80b181a00be0b6a783a36c5fb928aa45d59662d4",
    "llm_descriptions/ucf101_prompt.json.gz": "39bc7fbf0e7e60d48cc9e50ed008e6a5d7003c2d68713f0f76ec823cbdce0d09",
    "reference_text_embeddings/Caltech101.npy": "7ab8e3cf3a8240af56f67733cdaa8e81311b1f5820809898e0931b9ab700a27e",
    "reference_text_embeddings/DescribableTextures.npy": (
        "59498c6b319eb2144da09b9b5bede21c3c94d2f3f9bb202a157990ba4305eea3"
    ),
    "reference_text_embeddings/EuroSAT.npy": "e98ff667b6f4a61566edd0467f2b8a18f3e4a1493138c0e0140787136e7a2603",
    "reference_text_embeddings/FGVCAircraft.npy": "544f6912c63dac1c7d1a5adb7f237c13a6d76d70bbc9625a8fc4d9c3d18c6884",
    "reference_text_embeddings/Food101.npy": "2785c0b37765ea92cc59ec8e6a4db6d74aba226676e7fe7959d65ca3296a6414",
    "reference_text_embeddings/ImageNet.npy": "9a43c37eec7931bae46a8f1468d0dcd213194778e96a8364599b99352f9185c6",
    "reference_text_embeddings/ImageNetA.npy": "11aa9e084823a46f43fb9ad5011cc66ae8ab637d26f248bf8ff4724f2db2b65f",
    "reference_text_embeddings/ImageNetR.npy": "505d0acff121a1b491d0d001cb84e7ca656827d2580a18f62906719025830a4f",
    "reference_text_embeddings/ImageNetV2.npy": "f53a234a64af239911e35c4c02ddd14e926818366acdd16304b62a47063023f7",
    "reference_text_embeddings/OxfordFlowers.npy": "5c17d9b65fe3109365d106db8d7a963000c14bde8b0e3948da4c718886b6efba",
    "reference_text_embeddings/OxfordPets.npy": "c4d54668c7dffd4d913448232ed23c47eca9d87cdc9db1cd786cc29671c9141a",
    "reference_text_embeddings/SUN397.npy": "2015115a6ede5524f9eeafd06f6f0a66719b11a12cac8ba274b697da4d541144",
    "reference_text_embeddings/StanfordCars.npy": "6f3e35a57866b5a0089f747d0b93231ed0a266dfaa5d0a3037930bca95d7bc0f",
    "reference_text_embeddings/UCF101.npy": "e7f1f701e876279d214e58e772dbb8c27fb68891c4343b0c88529c8127cc7318",
    "splits/cat_to_name.json.gz": "0469f1ad7fe0072d98155c49aa58649d998edbbe3326229003aa5f7228525236",
    "splits/imagenet_classnames.txt": "89e0b642c6697a3a43a06a2bb65f9fefb3ca295ccc5f4ba9ce385f1a3a58c629",
    "splits/split_zhou_Caltech101.json.gz": "52ce83205ff8ff8a1a18119aad6376120ae35c36e783a984bc560cbf10e73fa5",
    "splits/split_zhou_DescribableTextures.json.gz": (
        "f26ebeccd2b58e68d70f07a0dc39fe49bf7b69024bac34396b954dfd87969c38"
    ),
    "splits/split_zhou_EuroSAT.json.gz": "541503a77d0b26b735d85ec7a3e672804fe0aa466c2e5f07da772cc6c0af8ad2",
    "splits/split_zhou_OxfordFlowers.json.gz": "2f50c42fc1a17ca13c271cb4269b1347bdb43d2be672e34f74a4e4cbfbcca794",
    "splits/split_zhou_OxfordPets.json.gz": "d7f3ffe65b3919f95132e51422894ae18686b83c331fd8c0adcdc3dc2de6301e",
    "splits/split_zhou_StanfordCars.json.gz": "40acee7aa65c8e4727a32d90e884b7c3f8960b523422317e163f7af65432959d",
    "splits/split_zhou_UCF101.json.gz": "d78cb834f7c5792ceaff2c5ee2d7c76a9e4086e48a3a6b01232989d29cbefdd8",
}

# Datasets whose CoOp split file could not be retrieved for shipping: the user supplies it.
UNSHIPPED_SPLITS: frozenset[str] = frozenset({"Food101", "SUN397"})

COOP_DATASETS_DOC = "https://github.com/KaiyangZhou/CoOp/blob/main/DATASETS.md"

# ImageNet-Sketch's reference embeddings are byte-identical to ImageNet-V2's: one file serves both.
_EMBEDDING_FILES: dict[str, str] = {
    "Caltech101": "Caltech101.npy",
    "DescribableTextures": "DescribableTextures.npy",
    "EuroSAT": "EuroSAT.npy",
    "FGVCAircraft": "FGVCAircraft.npy",
    "Food101": "Food101.npy",
    "ImageNet": "ImageNet.npy",
    "ImageNetA": "ImageNetA.npy",
    "ImageNetR": "ImageNetR.npy",
    "ImageNetSketch": "ImageNetV2.npy",
    "ImageNetV2": "ImageNetV2.npy",
    "OxfordFlowers": "OxfordFlowers.npy",
    "OxfordPets": "OxfordPets.npy",
    "SUN397": "SUN397.npy",
    "StanfordCars": "StanfordCars.npy",
    "UCF101": "UCF101.npy",
}


class ResourceChecksumError(DataError):
    """A shipped file does not match its recorded checksum (damaged or modified installation)."""


def resource_checksums() -> dict[str, str]:
    """The recorded content digest of every shipped file; run records store it for provenance."""
    return dict(CHECKSUMS)


def _read_bytes(relpath: str) -> bytes:
    """Read a shipped file, decompress it if gzipped and check its content digest."""
    expected = CHECKSUMS.get(relpath)
    if expected is None:
        raise DataError(f"{relpath!r} is not a file shipped with hicropl (known: {sorted(CHECKSUMS)})")
    resource = _resources.files(__name__).joinpath(relpath)
    try:
        raw = resource.read_bytes()
    except FileNotFoundError as exc:
        raise DataError(
            f"the shipped file {relpath!r} is missing from the installed package ({resource}); "
            "reinstall hicropl (pip install --force-reinstall hicropl)"
        ) from exc
    data = gzip.decompress(raw) if relpath.endswith(".gz") else raw
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise ResourceChecksumError(
            f"the shipped file {relpath!r} ({resource}) has SHA-256 {digest}, expected {expected}: the "
            "installation is damaged or the file was edited; reinstall hicropl"
        )
    return data


@cache
def _read_json(relpath: str) -> Any:
    return json.loads(_read_bytes(relpath).decode("utf-8"))


def shipped_split_names() -> list[str]:
    """Datasets whose CoOp split file ships with the package."""
    prefix, suffix = "splits/split_zhou_", ".json.gz"
    return sorted(k[len(prefix) : -len(suffix)] for k in CHECKSUMS if k.startswith(prefix))


def load_split(name: str) -> dict[str, list[list[Any]]]:
    """The shipped CoOp split ``split_zhou_<name>.json``: ``{"train"|"val"|"test": [[relpath, label, cname]]}``.

    ``name`` is CoOp's dataset name (``Caltech101``, ``OxfordPets``...); registry aliases are
    accepted too. Food101 and SUN397 are not shipped: their split must be in the dataset folder.
    """
    canonical = _canonical(name)
    if canonical in UNSHIPPED_SPLITS:
        raise DataError(
            f"the CoOp split file split_zhou_{canonical}.json is not shipped with hicropl: download it "
            f"from the link in {COOP_DATASETS_DOC} and put it in the {canonical} dataset folder"
        )
    relpath = f"splits/split_zhou_{canonical}.json.gz"
    if relpath not in CHECKSUMS:
        raise DataError(f"no split file is shipped for {name!r}; shipped: {', '.join(shipped_split_names())}")
    # A fresh copy each call: callers may mutate the lists.
    return json.loads(_read_bytes(relpath).decode("utf-8"))


def parse_imagenet_classnames(lines: Iterable[str], source: str) -> list[tuple[str, str]]:
    """Parse CoOp's ``classnames.txt`` format: one ``<wnid> <class name>`` per line."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        wnid, _, name = line.partition(" ")
        if not name.strip():
            raise DataError(f"{source}, line {number}: expected '<wnid> <class name>', got {line!r}")
        if wnid in seen:
            raise DataError(f"{source}, line {number}: the wnid {wnid} appears twice")
        seen.add(wnid)
        pairs.append((wnid, name.strip()))
    if not pairs:
        raise DataError(f"{source} lists no classes")
    return pairs


@lru_cache(maxsize=1)
def _imagenet_classnames() -> tuple[tuple[str, str], ...]:
    text = _read_bytes("splits/imagenet_classnames.txt").decode("utf-8")
    return tuple(parse_imagenet_classnames(text.splitlines(), "shipped imagenet_classnames.txt"))


def imagenet_classnames() -> list[tuple[str, str]]:
    """The 1000 ImageNet classes as ``(wnid, CoOp's cleaned name)`` in label order (sorted wnids)."""
    return list(_imagenet_classnames())


def flowers_cat_to_name() -> dict[int, str]:
    """Oxford Flowers' ``cat_to_name.json`` as ``{0-based label: name}`` (the file counts from 1)."""
    return {int(k) - 1: v for k, v in _read_json("splits/cat_to_name.json.gz").items()}


def description_files() -> list[str]:
    """Names of the shipped LLM-description files (the official code's gpt_file/<name>; datasets name
    theirs in ``DatasetSpec.description_file``)."""
    prefix, suffix = "llm_descriptions/", ".gz"
    return sorted(k[len(prefix) : -len(suffix)] for k in CHECKSUMS if k.startswith(prefix))


def load_llm_descriptions(description_file: str) -> dict[str, list[str]]:
    """The descriptions ``{class name with spaces: [sentence, ...]}`` of one shipped file, or of a JSON
    file on disk (a path, for datasets that bring their own descriptions, such as ToyWorld's)."""
    relpath = f"llm_descriptions/{description_file}.gz"
    as_path = Path(description_file).expanduser()
    if relpath not in CHECKSUMS and (as_path.is_file() or len(as_path.parts) > 1):
        return _read_user_descriptions(as_path)
    if relpath not in CHECKSUMS:
        raise DataError(
            f"no LLM-description file {description_file!r} is shipped; shipped: {', '.join(description_files())}"
            " (the ImageNet family has none: use reference_text_embeddings() or CLIP's ImageNet templates)"
        )
    data = _read_json(relpath)
    return {name: list(sentences) for name, sentences in data.items()}


def _read_user_descriptions(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise DataError(f"the description file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"the description file {path} is not readable JSON ({exc})") from exc
    valid = isinstance(data, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v) for k, v in data.items()
    )
    if not valid:
        raise DataError(f"the description file {path} must map each class name to a list of sentences")
    return {name: list(sentences) for name, sentences in data.items()}


def descriptions_for(
    classnames: Sequence[str], description_file: str, allow_missing: bool = False
) -> dict[str, list[str]]:
    """Descriptions for each class, keyed by the class name as given (looked up with ``_`` -> space).

    Classes without an entry raise a DataError naming them, because a silently missing class
    would change the frozen text features of every other class's softmax. With
    ``allow_missing=True`` only the classes that have an entry are returned and the caller is
    expected to fall back (e.g. to a template) for the rest.
    """
    table = load_llm_descriptions(description_file)
    found: dict[str, list[str]] = {}
    missing: list[str] = []
    for name in classnames:
        sentences = table.get(name.replace("_", " "))
        if sentences:
            found[name] = sentences
        else:
            missing.append(name)
    if missing and not allow_missing:
        shown = ", ".join(repr(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise DataError(
            f"{len(missing)} of {len(classnames)} classes have no entry in the LLM-description file "
            f"{description_file!r}: {shown}. Use the dataset's CoOp class names, or pass "
            "--description-fallback (method.description_fallback=true) to fall back to templates for those classes"
        )
    return found


def reference_text_embeddings(dataset_name: str) -> np.ndarray:
    """The official code's frozen ViT-B/16 description embeddings for a dataset, float32 [classes, 512].

    Rows follow the dataset's label order. Caltech101 has only its 50 base classes; ImageNet-A/-R
    their 200-class subsets. Only valid for OpenAI CLIP ViT-B/16.
    """
    canonical = _canonical(dataset_name)
    filename = _EMBEDDING_FILES.get(canonical)
    if filename is None:
        raise DataError(f"no reference text embeddings are shipped for {dataset_name!r}")
    array = np.load(io.BytesIO(_read_bytes(f"reference_text_embeddings/{filename}")), allow_pickle=False)
    return array


def verify_all() -> None:
    """Check every shipped file against its digest (used by tests and ``hicropl data check``)."""
    for relpath in CHECKSUMS:
        _read_bytes(relpath)


def _canonical(name: str) -> str:
    """Resolve a dataset alias to its canonical name through the registry (lazy: avoids an import cycle)."""
    if name in _EMBEDDING_FILES:
        return name
    from hicropl.data.registry import get_dataset_spec

    return get_dataset_spec(name).name
