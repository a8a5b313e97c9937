"""``hicropl data prepare imagenet``: ImageNet's flat validation folder sorted into wnid folders."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import hicropl.data.prepare_imagenet as prepare
from hicropl.cli import main
from hicropl.data import resources
from hicropl.data.prepare_imagenet import prepare_imagenet, read_labels
from hicropl.data.registry import build_dataset
from hicropl.errors import DataError
from tests.data.synthetic import make_imagenet

# ILSVRC2012_IDs are not in wnid order in the devkit: give the test classes scrambled ids too.
DEVKIT_IDS = {"n01440764": 449, "n01443537": 1, "n01484850": 390, "n01491361": 7, "n01494475": 812}


def flat_imagenet(root: Path) -> dict[str, str]:
    """The miniature ImageNet with its validation images flat, as extracted; returns {file name: wnid}."""
    make_imagenet(root)
    val = root / "imagenet" / "images" / "val"
    truth: dict[str, str] = {}
    for folder in sorted(p for p in val.iterdir() if p.is_dir()):
        for image in sorted(folder.iterdir()):
            truth[image.name] = folder.name
            image.rename(val / image.name)
        folder.rmdir()
    return truth


def kaggle_csv(path: Path, truth: dict[str, str]) -> Path:
    rows = [f"{name[:-5]},{wnid} 10 20 30 40 {wnid} 1 2 3 4" for name, wnid in sorted(truth.items(), reverse=True)]
    path.write_text("ImageId,PredictionString\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def devkit_files(folder: Path, truth: dict[str, str]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    ground = folder / "ILSVRC2012_validation_ground_truth.txt"
    ground.write_text("".join(f"{DEVKIT_IDS[truth[name]]}\n" for name in sorted(truth)), encoding="utf-8")
    meta = folder / "ids.csv"
    meta.write_text("ILSVRC2012_ID,WNID\n" + "".join(f"{i},{w}\n" for w, i in DEVKIT_IDS.items()), encoding="utf-8")
    return ground, meta


def sorted_state(val: Path) -> dict[str, str]:
    return {p.name: p.parent.name for p in val.glob("n*/ILSVRC2012_val_*.JPEG")}


@pytest.mark.parametrize("ground_truth", ["kaggle", "devkit"])
def test_both_ground_truths_sort_the_flat_folder_by_symlink(tmp_path, ground_truth):
    truth = flat_imagenet(tmp_path / "data")
    if ground_truth == "kaggle":
        labels, meta = kaggle_csv(tmp_path / "LOC_val_solution.csv", truth), None
    else:
        labels, meta = devkit_files(tmp_path / "devkit", truth)
    assert read_labels(labels, meta) == truth

    report = prepare_imagenet(tmp_path / "data", labels, meta)
    val = tmp_path / "data" / "imagenet" / "images" / "val"
    assert (report.placed, report.already, report.missing, report.classes) == (len(truth), 0, [], 5)
    assert sorted_state(val) == truth
    link = val / truth["ILSVRC2012_val_00000001.JPEG"] / "ILSVRC2012_val_00000001.JPEG"
    assert link.is_symlink() and os.readlink(link) == "../ILSVRC2012_val_00000001.JPEG"
    assert (val / "ILSVRC2012_val_00000001.JPEG").is_file()  # linking leaves the extracted folder as it was
    splits = build_dataset("ImageNet", tmp_path / "data")
    assert {Path(d.impath).name: d.classname for d in splits.test} == {
        name: dict(resources.imagenet_classnames())[wnid] for name, wnid in truth.items()
    }

    again = prepare_imagenet(tmp_path / "data", labels, meta)
    assert (again.placed, again.already) == (0, len(truth))


def test_move_and_a_killed_run_is_finished_by_running_again(tmp_path, monkeypatch):
    truth = flat_imagenet(tmp_path / "data")
    labels = kaggle_csv(tmp_path / "LOC_val_solution.csv", truth)
    original, calls = prepare._place, []

    def killed_on_the_fourth(source, target, move):
        calls.append(target)
        if len(calls) == 4:
            raise KeyboardInterrupt
        original(source, target, move)

    monkeypatch.setattr(prepare, "_place", killed_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        prepare_imagenet(tmp_path / "data", labels, move=True)
    monkeypatch.setattr(prepare, "_place", original)
    val = tmp_path / "data" / "imagenet" / "images" / "val"
    assert len(sorted_state(val)) == 3

    report = prepare_imagenet(tmp_path / "data", labels, move=True)
    assert (report.placed, report.already, report.missing) == (len(truth) - 3, 3, [])
    assert sorted_state(val) == truth and not list(val.glob("*.JPEG"))  # moved, not linked
    assert not any(p.is_symlink() for p in val.rglob("*"))


def test_a_leftover_temporary_link_and_a_missing_image(tmp_path):
    truth = flat_imagenet(tmp_path / "data")
    val = tmp_path / "data" / "imagenet" / "images" / "val"
    first = sorted(truth)[0]
    (val / truth[first]).mkdir()
    os.symlink(f"../{first}", val / truth[first] / f".{first}.tmp")  # a run killed between link and rename
    (val / sorted(truth)[-1]).unlink()
    report = prepare_imagenet(tmp_path / "data", kaggle_csv(tmp_path / "solution.csv", truth))
    assert report.missing == [str(val / sorted(truth)[-1])] and report.placed == len(truth) - 1
    assert not (val / truth[first] / f".{first}.tmp").exists()


def test_classnames_written_is_the_shipped_coop_file_and_an_existing_one_is_kept(tmp_path):
    truth = flat_imagenet(tmp_path / "data")
    classnames = tmp_path / "data" / "imagenet" / "classnames.txt"
    labels = kaggle_csv(tmp_path / "solution.csv", truth)
    assert not prepare_imagenet(tmp_path / "data", labels).classnames_written  # the miniature's own is kept
    classnames.unlink()
    assert prepare_imagenet(tmp_path / "data", labels).classnames_written
    digest = hashlib.sha256(classnames.read_bytes()).hexdigest()
    assert digest == resources.CHECKSUMS["splits/imagenet_classnames.txt"]


def test_the_cli_sorts_then_checks(tmp_path, capsys):
    truth = flat_imagenet(tmp_path / "data")
    labels = kaggle_csv(tmp_path / "solution.csv", truth)
    code = main(["data", "prepare", "imagenet", "--data-root", str(tmp_path / "data"), "--labels", str(labels)])
    out = capsys.readouterr().out
    assert code == 1  # the miniature has fewer images than ImageNet: data check says "different"
    assert f"{len(truth)} images linked into 5 wnid folders, 0 already in place" in out
    assert "ImageNet  different" in out


@pytest.mark.parametrize(
    ("content", "meta", "message"),
    [
        ("hello\n", None, "is neither Kaggle's LOC_val_solution.csv nor"),
        ("ImageId,PredictionString\nILSVRC2012_val_00000001,tench\n", None, "line 2: expected 'ImageId,<wnid> ...'"),
        ("1\n2\n", None, "need the devkit's meta.mat"),
        ("1\n9\n", "1 n01440764\n", "line 2: '9' is not an ILSVRC2012_ID"),
        ("1\n", "1 tench\n", "line 1: expected '<ILSVRC2012_ID> <wnid>'"),
    ],
)
def test_bad_ground_truth_files(tmp_path, content, meta, message):
    labels = tmp_path / "labels.txt"
    labels.write_text(content, encoding="utf-8")
    meta_file = None
    if meta is not None:
        meta_file = tmp_path / "ids.txt"
        meta_file.write_text(meta, encoding="utf-8")
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        read_labels(labels, meta_file)


def test_meta_mat_without_scipy_says_what_to_do(tmp_path):
    try:
        import scipy  # noqa: F401
    except ImportError:
        (tmp_path / "gt.txt").write_text("1\n", encoding="utf-8")
        (tmp_path / "meta.mat").write_bytes(b"MATLAB")
        with pytest.raises(DataError, match="needs scipy"):
            read_labels(tmp_path / "gt.txt", None)
    else:
        pytest.skip("scipy is installed: test_meta_mat_with_scipy covers meta.mat")


def test_meta_mat_with_scipy(tmp_path):
    scipy_io = pytest.importorskip("scipy.io")
    import numpy as np

    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("num_children", "O")]
    rows = [(i, w, 0) for w, i in DEVKIT_IDS.items()] + [(1001, "n00001740", 3)]
    scipy_io.savemat(tmp_path / "meta.mat", {"synsets": np.array(rows, dtype=dtype)})
    (tmp_path / "gt.txt").write_text("449\n1\n", encoding="utf-8")
    assert read_labels(tmp_path / "gt.txt", None) == {
        "ILSVRC2012_val_00000001.JPEG": "n01440764",
        "ILSVRC2012_val_00000002.JPEG": "n01443537",
    }
