"""CoOp's class-name cleaning rules, as functions of what is on disk.

The shipped split files already carry the cleaned names; these rules are what CoOp's readers
applied to produce them. The readers use them to validate a split file against the image paths it
lists (a split from another source with different names is reported, not silently used), and the
tests check them against every entry of the shipped CoOp splits.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# Caltech101: two folders are not classes; four plural/capitalised folder names are renamed.
CALTECH101_IGNORED: tuple[str, ...] = ("BACKGROUND_Google", "Faces_easy")
CALTECH101_RENAMES: dict[str, str] = {
    "airplanes": "airplane",
    "Faces": "face",
    "Leopards": "leopard",
    "Motorbikes": "motorbike",
}

# EuroSAT: CoOp replaces the folder names by descriptive names.
EUROSAT_NAMES: dict[str, str] = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


def caltech101_classname(folder: str) -> str:
    """``Faces`` -> ``face``; other folder names are kept."""
    return CALTECH101_RENAMES.get(folder, folder)


def eurosat_classname(folder: str) -> str | None:
    """``AnnualCrop`` -> ``Annual Crop Land``; None for a folder that is not a EuroSAT class."""
    return EUROSAT_NAMES.get(folder)


def oxford_pets_classname(filename: str) -> str:
    """The breed is the file name without its trailing index, lower-cased: ``Abyssinian_12.jpg`` -> ``abyssinian``."""
    stem = PurePosixPath(filename).name.rsplit(".", 1)[0]
    return "_".join(stem.split("_")[:-1]).lower()


def ucf101_classname(action: str) -> str:
    """CamelCase action names are split on capitals and joined by ``_``: ``ApplyEyeMakeup`` -> ``Apply_Eye_Makeup``."""
    return "_".join(re.findall(r"[A-Z][^A-Z]*", action))


def sun397_classname(class_path: str) -> str:
    """``/b/bakery/shop`` -> ``shop bakery``: drop the initial-letter folder, reverse the rest."""
    parts = [p for p in class_path.split("/") if p][1:]
    return " ".join(reversed(parts))


def stanford_cars_classname(meta_name: str) -> str:
    """The year moves to the front: ``Audi TTS Coupe 2012`` -> ``2012 Audi TTS Coupe``."""
    words = meta_name.split(" ")
    year = words.pop(-1)
    return " ".join([year, *words])
