"""A torch dataset for Datum lists, with explicit handling of broken images.

A corrupt or truncated image raises a DataError naming the file. With ``skip_corrupt=True`` every
image is decoded once when the dataset is built (JPEGs at 1/8 scale, which still reads the whole
stream, so truncation is caught), in the main process: the number and paths of skipped images are
therefore known before any worker starts (``ImageDataset.skipped``, ``ImageDataset.skipped_count``),
and each broken index is replaced by the next valid one, deterministically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from PIL import Image
from torch.utils.data import Dataset

from hicropl.data.transforms import transform_fingerprint
from hicropl.data.types import Datum
from hicropl.errors import DataError

__all__ = ["ImageDataset", "load_image"]


def load_image(path: str) -> Image.Image:
    """Open and fully decode an RGB image; any decoding problem becomes a DataError naming the file."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except FileNotFoundError as exc:
        raise DataError(f"the image {path} does not exist; re-download or re-extract the dataset") from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"cannot decode the image {path} ({exc}); it is corrupt or truncated: replace it, or pass "
            "--skip-corrupt-images (train.skip_corrupt=true) to skip broken images (they are counted)"
        ) from exc


def image_is_valid(path: str) -> bool:
    """Decode once (JPEG at reduced scale) to catch corrupt and truncated files cheaply."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (1, 1))
            image.load()
        return True
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


class ImageDataset(Dataset):
    """``data[i]`` -> ``(transform(image), label, index)``, or with ``second_transform``
    ``(transform(image), label, index, second_transform(image))``.

    ``index`` is the position in ``data`` of the image actually returned, so callers that cache
    per-image results (frozen features) stay correct when a broken image was replaced. The second view
    (Dassl's K_TRANSFORMS 2) augments the same decoded image again, after the first view, so under one
    seed both views are fixed and, with a random transform, differ.
    """

    def __init__(
        self,
        data: Sequence[Datum],
        transform: Callable[[Image.Image], Any] | None = None,
        skip_corrupt: bool = False,
        validate_threads: int = 4,
        second_transform: Callable[[Image.Image], Any] | None = None,
    ) -> None:
        self.data = list(data)
        self.transform = transform
        self.second_transform = second_transform
        self.skip_corrupt = skip_corrupt
        self.skipped: list[str] = []
        self._replacement: dict[int, int] = {}
        if skip_corrupt and self.data:
            self._validate(validate_threads)

    def _validate(self, threads: int) -> None:
        paths = [d.impath for d in self.data]
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            valid = list(pool.map(image_is_valid, paths))
        if not any(valid):
            raise DataError(f"none of the {len(paths)} images could be decoded (first: {paths[0]})")
        self.skipped = [p for p, ok in zip(paths, valid, strict=True) if not ok]
        n = len(valid)
        for index, ok in enumerate(valid):
            if not ok:
                nxt = next(j % n for j in range(index + 1, index + n + 1) if valid[j % n])
                self._replacement[index] = nxt

    @property
    def skipped_count(self) -> int:
        """How many broken images were replaced (known at construction; 0 unless skip_corrupt)."""
        return len(self.skipped)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        index = self._replacement.get(index, index)
        datum = self.data[index]
        decoded = load_image(datum.impath)
        image = self.transform(decoded) if self.transform is not None else decoded
        if self.second_transform is None:
            return image, datum.label, index
        return image, datum.label, index, self.second_transform(decoded)


class CacheableImages(NamedTuple):
    """What keys a dataset's frozen features in the image-feature cache: its ordered image paths and
    the fingerprint of its (deterministic) transform."""

    paths: list[str]
    transform: str


def cacheable_images(dataset: object) -> CacheableImages | None:
    """The cache key parts of ``dataset`` (one that lists its images as ``dataset.data`` items with
    ``impath`` and applies ``dataset.transform``), or None when its features cannot be cached: no
    image list, or a transform that is random (augmented features differ every pass) or cannot be
    fingerprinted."""
    data = getattr(dataset, "data", None)
    transform = getattr(dataset, "transform", None)
    if not data or transform is None or not all(hasattr(d, "impath") for d in data):
        return None
    if "Random" in repr(transform):
        return None
    try:
        fingerprint = transform_fingerprint(transform)
    except ValueError:
        return None
    return CacheableImages([str(d.impath) for d in data], fingerprint)
