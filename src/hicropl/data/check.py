"""``hicropl data check``: which datasets are present, complete and where to get what is missing.

For each dataset: is its folder there, the first missing required file or folder, and the image
counts found per split against the counts CoOp (and the paper's Table 10) report. Images are checked
for presence only, unless ``decode`` is asked for: then every image is decoded (slow) to find corrupt ones.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from hicropl.data import resources
from hicropl.data.files import missing_images
from hicropl.data.registry import get_dataset_spec
from hicropl.data.spec import DatasetSpec
from hicropl.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass
class DatasetCheck:
    """The state of one dataset under a data root.

    ``status``: "ok" (readable, counts as expected), "different" (readable, counts differ from
    the reference, e.g. a miniature or a partial copy), "incomplete" (readable but images listed in
    a split are missing), "corrupt" (checked with decode: some images cannot be decoded), "broken"
    (the reader failed), "missing" (no dataset folder).
    ``found`` counts images present on disk per split (val of ImageNet is the test set: None).
    """

    name: str
    folder: Path
    status: str
    expected: dict[str, int | None] = field(default_factory=dict)
    found: dict[str, int | None] = field(default_factory=dict)
    missing_files: int = 0
    first_missing: str | None = None
    message: str = ""
    source: str = ""
    # With decode: images that exist but cannot be decoded (corrupt or truncated), and the first of them.
    corrupt_files: int = 0
    first_corrupt: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def present(self) -> bool:
        return self.status != "missing"


def _expected(spec: DatasetSpec) -> dict[str, int | None]:
    if spec.expected is None:
        return {s: None for s in SPLITS}
    return {"train": spec.expected.train, "val": spec.expected.val, "test": spec.expected.test}


def check_dataset(
    spec: DatasetSpec, root: Path, decode: bool = False, progress: Callable[[int, int], None] | None = None
) -> DatasetCheck:
    """``decode``: also decode every present image (``progress(done, total)`` is told as it goes)."""
    folder = spec.dataset_dir(root)
    check = DatasetCheck(name=spec.name, folder=folder, status="missing", expected=_expected(spec), source=spec.source)
    first = spec.first_missing(root)
    if first == folder:
        check.first_missing = str(folder)
        check.message = f"the dataset folder {folder} is missing"
        return check
    check.first_missing = str(first) if first is not None else None
    try:
        splits = spec.reader(folder, False)
    except DataError as exc:
        check.status = "broken"
        check.message = str(exc)
        return check
    lists = {"train": splits.train, "val": None if splits.val_is_test else splits.val, "test": splits.test}
    gone: list[str] = []
    for split, data in lists.items():
        if data is None:
            check.found[split] = None
            continue
        lost = missing_images(data)
        gone.extend(lost)
        check.found[split] = len({d.impath for d in data}) - len(lost)
    check.missing_files = len(set(gone))
    if decode:
        lost_set = set(gone)
        present = sorted({d.impath for data in lists.values() if data is not None for d in data} - lost_set)
        corrupt = _undecodable(present, progress)
        check.corrupt_files = len(corrupt)
        check.first_corrupt = corrupt[0] if corrupt else None
    if gone:
        check.status = "incomplete"
        check.first_missing = check.first_missing or gone[0]
        check.message = f"{check.missing_files} listed image(s) missing, e.g. {gone[0]}"
    elif check.corrupt_files:
        check.status = "corrupt"
        check.message = (
            f"{check.corrupt_files} image(s) cannot be decoded, e.g. {check.first_corrupt}: replace them, or train "
            "and evaluate with --skip-corrupt-images"
        )
    elif spec.expected is not None and any(
        check.expected[s] is not None and check.found.get(s) != check.expected[s] for s in SPLITS
    ):
        check.status = "different"
        check.message = "image counts differ from the reference counts"
    else:
        check.status = "ok"
    return check


def _undecodable(paths: Sequence[str], progress: Callable[[int, int], None] | None) -> list[str]:
    from hicropl.data.loader import image_is_valid

    bad: list[str] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for done, (path, ok) in enumerate(zip(paths, pool.map(image_is_valid, paths), strict=True), start=1):
            if not ok:
                bad.append(path)
            if progress is not None:
                progress(done, len(paths))
    return bad


def check_data_root(
    root: str | Path,
    names: Sequence[str] | None = None,
    decode: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[DatasetCheck]:
    """Check every registered dataset (or ``names``) under ``root``; raises DataError if root is missing.
    ``decode`` decodes every image too (slow: minutes for the 15 datasets), telling ``progress(name, done, total)``."""
    root_path = Path(root).expanduser().absolute()
    if not root_path.is_dir():
        raise DataError(
            f"the data root {root_path} does not exist or is not a folder; create it and put the datasets in it "
            "as described in DATASETS.md"
        )
    # By default the paper's 15 datasets; generated ones (ToyWorld) are checked only when named.
    from hicropl.data.datasets.builtin import BUILTIN_SPECS

    default = [spec.name for spec in BUILTIN_SPECS]
    specs = [get_dataset_spec(n) for n in (names if names is not None else default)]
    return [
        check_dataset(spec, root_path, decode, partial(progress, spec.name) if progress is not None else None)
        for spec in specs
    ]


def _count(found: int | None, expected: int | None, val_is_test: bool) -> str:
    if val_is_test:
        return "= test"
    if expected is None and not found:
        return "-"
    shown_found = "?" if found is None else f"{found:,}"
    shown_expected = "?" if expected is None else f"{expected:,}"
    return f"{shown_found} / {shown_expected}"


def format_check_report(checks: Sequence[DatasetCheck], decoded: bool = False) -> str:
    """A table (found / expected images per split) followed by what to do for each problem."""
    header = ("dataset", "status", "train", "val", "test")
    rows = [header]
    for c in checks:
        cells = []
        for split in SPLITS:
            val_is_test = split == "val" and c.expected.get("val") is None and c.expected.get("train") is not None
            if c.status in ("missing", "broken"):
                cells.append("-" if c.expected.get(split) is None else f"- / {c.expected[split]:,}")
            else:
                cells.append(_count(c.found.get(split), c.expected.get(split), val_is_test))
        rows.append((c.name, c.status, cells[0], cells[1], cells[2]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    problems = [c for c in checks if c.status != "ok"]
    if problems:
        lines.append("")
    for c in problems:
        lines.append(f"{c.name} ({c.status}): {c.message}")
        if c.first_missing and c.status != "broken":
            lines.append(f"  first missing: {c.first_missing}")
        if c.first_corrupt and c.status != "corrupt":
            lines.append(f"  also {c.corrupt_files} image(s) cannot be decoded, e.g. {c.first_corrupt}")
        if c.status in ("missing", "broken", "incomplete"):
            lines.append(f"  get it: {c.source}")
    ok = sum(c.ok for c in checks)
    lines.append("")
    lines.append(
        f"{ok} of {len(checks)} datasets complete. Layouts and sources: DATASETS.md, {resources.COOP_DATASETS_DOC}"
    )
    if decoded:
        lines.append(f"Every present image was decoded ({sum(c.corrupt_files for c in checks)} cannot be).")
    else:
        lines.append("Images were checked for presence, not decoded: pass --decode to decode every image (slower).")
    return "\n".join(lines)


def _print_progress(name: str, done: int, total: int) -> None:
    # One counter line per dataset on stderr, rewritten in place; stdout keeps only the report.
    if done == total or done % 500 == 0:
        end = "\n" if done == total else ""
        print(f"\rdecoding {name}: {done:,} / {total:,} images", end=end, file=sys.stderr, flush=True)


def run_data_check(root: str | Path, dataset: str | None = None, decode: bool = False) -> int:
    """Print the check report for ``root`` (one dataset or all) and verify the shipped resources.
    ``decode`` decodes every image (with a progress count on stderr) to find corrupt files.

    Returns 0 when every checked dataset is "ok" and the shipped files are intact; 1 when some
    dataset is missing, broken, incomplete, corrupt or has unexpected counts (or a shipped file is damaged);
    2 when the root itself is missing. Unknown dataset names raise UnknownDatasetError (a ConfigError).
    """
    try:
        checks = check_data_root(root, [dataset] if dataset else None, decode, _print_progress if decode else None)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_check_report(checks, decoded=decode))
    try:
        resources.verify_all()
        print(f"Shipped resources: {len(resources.CHECKSUMS)} files verified.")
    except DataError as exc:
        print(f"Shipped resources: {exc}")
        return 1
    return 0 if all(c.ok for c in checks) else 1
