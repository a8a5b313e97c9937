"""What must come out bit for bit the same whatever interrupted a run: its final numbers and state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch


@dataclass
class Outcome:
    evaluations: dict[str, Any]
    selection: dict[str, Any]
    metrics: list[dict[str, Any]]
    method_state: dict[str, torch.Tensor]

    def differences(self, other: Outcome) -> list[str]:
        """What differs from ``other`` (empty when the runs ended identically)."""
        out = [name for name in ("evaluations", "selection", "metrics") if getattr(self, name) != getattr(other, name)]
        if self.method_state.keys() != other.method_state.keys():
            out.append("checkpoint keys")
        else:
            out += [
                f"checkpoint {k}" for k, v in self.method_state.items() if not torch.equal(v, other.method_state[k])
            ]
        return out


def outcome_of(folder: Path) -> Outcome:
    result = json.loads((folder / "result.json").read_text())
    metrics = [
        {k: v for k, v in json.loads(line).items() if k != "seconds"}
        for line in (folder / "metrics.jsonl").read_text().splitlines()
    ]
    checkpoint = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)
    return Outcome(result["evaluations"], result["selection"], metrics, checkpoint["method"])
