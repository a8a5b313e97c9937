"""CLIP weights shipped inside the package, by name: ``load_clip("toyworld")``, ``--clip toyworld``.

A name is an alias for a checksum-verified file in the installed package; a file of the same name in
the working directory wins (it is what the user pointed at).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from hicropl.clip.weights_file import file_sha256
from hicropl.errors import CheckpointError


@dataclass(frozen=True)
class ShippedClip:
    name: str
    package: str  # the package whose resources/ folder holds the file
    file: str
    sha256: str
    rebuild: str  # the command that makes the file again

    def path(self) -> Path:
        return Path(str(resources.files(self.package).joinpath("resources", self.file)))


class WeightsChecksumError(CheckpointError):
    """Shipped CLIP weights do not match their recorded SHA-256."""


TOYWORLD_CLIP = ShippedClip(
    name="toyworld",
    package="hicropl.toyworld",
    file="toyworld_clip.safetensors",
    # SHA-256 of the file, produced by the rebuild command.
    sha256="935a0263f693ded333f7abcfe9b515b26424a0ae7837823d82aed70b47a6ff56",
    rebuild="hicropl toyworld pretrain --output runs/toyworld_pretrain --steps 4000 --seed 0",
)
SHIPPED_CLIPS: dict[str, ShippedClip] = {TOYWORLD_CLIP.name: TOYWORLD_CLIP}


@lru_cache(maxsize=8)
def _verified(path: str, expected: str, rebuild: str, size: int, mtime_ns: int) -> None:
    digest = file_sha256(Path(path))
    if digest != expected:
        raise WeightsChecksumError(
            f"Checksum mismatch for the shipped CLIP weights {path}: SHA-256 {digest}, expected {expected}. "
            "The file is damaged or was replaced: reinstall hicropl (pip install --force-reinstall hicropl), or "
            f"rebuild the weights with `{rebuild}` and pass that file instead."
        )


def verified_file(clip: ShippedClip, file: Path | None = None) -> Path:
    """``file`` (default: the shipped one) after checking it exists and matches ``clip.sha256``."""
    file = clip.path() if file is None else file
    if not file.is_file():
        raise CheckpointError(
            f"The {clip.name} CLIP weights {file} are missing from the installation: reinstall hicropl, or rebuild "
            f"them with `{clip.rebuild}`."
        )
    stat = file.stat()
    _verified(str(file.absolute()), clip.sha256, clip.rebuild, stat.st_size, stat.st_mtime_ns)
    return file


def shipped_clip(source: str | Path) -> ShippedClip | None:
    """The shipped weights ``source`` names (case-insensitive), unless a file of that name exists."""
    text = str(source)
    clip = SHIPPED_CLIPS.get(text.strip().lower())
    if clip is None or Path(text).expanduser().exists():
        return None
    return clip
