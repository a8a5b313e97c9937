"""A run is a folder: the names of its files and the questions asked about it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hicropl.atomic import atomic_write_text

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
RESULT = "result.json"
CHECKPOINT = "checkpoint.pt"
LOG = "log.txt"
EVALS = "evals"
TENSORBOARD = "tb"


@dataclass(frozen=True)
class RunFolder:
    path: Path

    @classmethod
    def at(cls, path: str | Path) -> RunFolder:
        return cls(Path(path).expanduser())

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def result(self) -> Path:
        return self.path / RESULT

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def log(self) -> Path:
        return self.path / LOG

    @property
    def evals(self) -> Path:
        return self.path / EVALS

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD

    def is_finished(self) -> bool:
        return self.result.is_file()

    def has_checkpoint(self) -> bool:
        return self.checkpoint.is_file()

    def clear(self) -> None:
        """Delete the files a run writes (and nothing else the user may have put there)."""
        for file in (self.config, self.metrics, self.result, self.checkpoint, self.log):
            file.unlink(missing_ok=True)
        for folder in (self.evals, self.tensorboard):
            if folder.is_dir():
                for child in sorted(folder.rglob("*"), reverse=True):
                    child.unlink() if child.is_file() or child.is_symlink() else child.rmdir()
                folder.rmdir()

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text("utf-8").splitlines() if line.strip()]

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=False) + "\n")
            handle.flush()

    def keep_metrics_through(self, epochs_done: int) -> None:
        """Keep the lines of the first ``epochs_done`` epochs (a resumed run rewrites later ones)."""
        kept = [r for r in self.read_metrics() if int(r.get("epoch", 0)) <= epochs_done]
        atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in kept))


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON as run folders hold it (indented, one trailing newline), written atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))
