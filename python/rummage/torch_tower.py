"""Rummage's tower as a PyTorch module, so a scientist trains what Rummage serves (needs torch).

Submodule names follow the hand-off's tensor names: `embeddings.FIELD` (torch.nn.EmbeddingBag, mean),
`hidden.K` and `projection` (torch.nn.Linear). `weights(side)` returns them as hand-off tensors, and
`Tower.from_handoff` loads a hand-off (for instance one written by `rummage export-model`) to start from
the production model.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch

from .artifacts import EPSILON, Bags, HandOff, TowerSpec


class Tower(torch.nn.Module):
    """Mean-pooled embedding bags per field, concatenated; Linear + ReLU layers; an optional Linear
    projection; L2 normalisation (divided by max(norm, 1e-6), as Rummage does)."""

    def __init__(self, spec: TowerSpec, id_count: int):
        super().__init__()
        self.spec = spec
        self.embeddings = torch.nn.ModuleDict()
        for f, fld in enumerate(spec.fields):
            rows = id_count + 1 if f == 0 else max(1, len(fld.vocabulary or []))
            self.embeddings[fld.name] = torch.nn.EmbeddingBag(rows, spec.dimension, mode="mean", include_last_offset=True)
        widths = [spec.dimension * len(spec.fields)] + list(spec.hidden)
        self.hidden = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.projection = torch.nn.Linear(widths[-1], spec.dimension) if spec.projection else None

    def stages(self, inputs: Sequence[Bags]) -> Dict[str, torch.Tensor]:
        """Every stage's output for bags given as (offsets [n + 1], ids) per field."""
        pooled = [bag(torch.as_tensor(np.asarray(ids), dtype=torch.long), torch.as_tensor(np.asarray(offsets), dtype=torch.long))
                  for bag, (offsets, ids) in zip(self.embeddings.values(), inputs)]
        x = torch.cat(pooled, dim=1)
        out = {"pooled": x}
        for k, layer in enumerate(self.hidden):
            x = torch.relu(layer(x))
            out[f"hidden.{k}"] = x
        if self.projection is not None:
            x = self.projection(x)
            out["projection"] = x
        out["output"] = x / x.norm(dim=1, keepdim=True).clamp_min(EPSILON)
        return out

    def forward(self, inputs: Sequence[Bags]) -> torch.Tensor:
        return self.stages(inputs)["output"]

    def weights(self, side: str) -> Dict[str, np.ndarray]:
        """The weights as hand-off tensors named for `side`."""
        named = {}
        for name, value in self.state_dict().items():
            key = name[:-len(".weight")] if name.startswith("embeddings.") else name
            named[f"{side}.{key}"] = value.detach().cpu().numpy().astype(np.float32)
        return named

    @classmethod
    def from_handoff(cls, handoff: HandOff, side: str) -> "Tower":
        ids = handoff.user_ids if side == "user" else handoff.item_ids
        tower = cls(handoff.tower(side), len(ids))
        state = {}
        for name in tower.state_dict():
            key = name[:-len(".weight")] if name.startswith("embeddings.") else name
            state[name] = torch.from_numpy(np.array(handoff.weights[f"{side}.{key}"]))
        tower.load_state_dict(state)
        return tower


def torch_golden(towers: Dict[str, Tower]):
    """A `run` for `HandOff.make_golden`: the torch towers' own stage outputs."""
    def run(side: str, inputs: List[Bags]) -> Dict[str, np.ndarray]:
        with torch.no_grad():
            return {k: v.numpy() for k, v in towers[side].stages(inputs).items()}
    return run
