"""Rummage's hand-off format from Python: embeddings and two-tower weights as safetensors or .npy, with
their ids (docs/scientists.md).

A hand-off is a directory:

    handoff.json                 format "rummage-handoff", version 1, kind "embeddings" or "two-tower",
                                 tolerance, temperature, towers (kind two-tower), producer
    user_ids.txt, item_ids.txt   one id per line; row r of every user (item) tensor belongs to the r-th id
    embeddings.safetensors       "users" [U, d] and "items" [I, d], float32 (or users.npy and items.npy)
    weights.safetensors          the towers' weights (two-tower): SIDE.embeddings.FIELD [rows, d] (the id
                                 field has one row per id plus a last "unknown" row), SIDE.hidden.K.weight
                                 [out, in] and .bias [out], SIDE.projection.weight / .bias (torch.nn.Linear
                                 layout)
    golden.safetensors           SIDE.input.FIELD.ids / .offsets (int64 bags) and the producer's outputs:
                                 SIDE.output [n, d] and, optionally, SIDE.pooled, SIDE.hidden.K, SIDE.projection

`rummage import` refuses a two-tower hand-off unless Rummage's towers reproduce the golden outputs within
the tolerance (default 1e-4, max abs). `forward` below is a NumPy reference of the towers, so a hand-off can
be built and checked without PyTorch; `rummage.torch_tower` builds the same towers as torch modules.

Needs numpy and safetensors (`pip install "rummage[artifacts]"`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from safetensors.numpy import load_file, save_file

FORMAT = "rummage-handoff"
VERSION = 1
DEFAULT_TOLERANCE = 1e-4
SIDES = ("user", "item")
#: Rummage's L2 normalisation divides by max(norm, EPSILON).
EPSILON = 1e-6

SPECIFICATION_FILE = "handoff.json"
USER_IDS_FILE = "user_ids.txt"
ITEM_IDS_FILE = "item_ids.txt"
EMBEDDINGS_FILE = "embeddings.safetensors"
WEIGHTS_FILE = "weights.safetensors"
GOLDEN_FILE = "golden.safetensors"

#: A batch of bags for one field: (offsets [n + 1], ids [m]), as torch.nn.EmbeddingBag with include_last_offset.
Bags = Tuple[np.ndarray, np.ndarray]


def read_ids(path) -> List[str]:
    """One id per line (UTF-8)."""
    ids = Path(path).read_text(encoding="utf-8").splitlines()
    if not ids or "" in ids:
        raise ValueError(f"{path}: ids must be one non-empty id per line")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{path}: an id appears twice")
    return ids


def write_ids(path, ids: Sequence[str]) -> None:
    ids = [str(i) for i in ids]
    if any("\n" in i or not i for i in ids):
        raise ValueError("ids must be non-empty and hold no newline")
    Path(path).write_text("".join(i + "\n" for i in ids), encoding="utf-8")


def load_tensors(path) -> Dict[str, np.ndarray]:
    """Every tensor of a safetensors file, as NumPy arrays."""
    return load_file(str(path))


def save_tensors(path, tensors: Dict[str, np.ndarray], metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes float arrays as float32 and integer arrays as int64."""
    converted = {name: np.ascontiguousarray(value, dtype=np.int64 if np.issubdtype(value.dtype, np.integer) else np.float32)
                 for name, value in tensors.items()}
    save_file(converted, str(path), metadata=metadata)


@dataclass
class Field:
    """An input field of a tower: the first is the entity's id (no vocabulary: the ids file is)."""
    name: str
    vocabulary: Optional[List[str]] = None


@dataclass
class TowerSpec:
    """Mean-pooled embedding bags per field, concatenated; dense + ReLU layers; an optional projection to
    `dimension`; L2 normalisation. Rummage's own towers compute exactly this."""
    fields: List[Field]
    dimension: int
    hidden: List[int] = field(default_factory=list)
    projection: bool = False

    def weight_shapes(self, side: str, id_count: int) -> Dict[str, Tuple[int, ...]]:
        """Every weight tensor's name and shape, in forward order."""
        shapes: Dict[str, Tuple[int, ...]] = {}
        for f, fld in enumerate(self.fields):
            rows = id_count + 1 if f == 0 else max(1, len(fld.vocabulary or []))
            shapes[f"{side}.embeddings.{fld.name}"] = (rows, self.dimension)
        width = self.dimension * len(self.fields)
        for k, h in enumerate(self.hidden):
            shapes[f"{side}.hidden.{k}.weight"] = (h, width)
            shapes[f"{side}.hidden.{k}.bias"] = (h,)
            width = h
        if self.projection:
            shapes[f"{side}.projection.weight"] = (self.dimension, width)
            shapes[f"{side}.projection.bias"] = (self.dimension,)
        return shapes

    def to_json(self) -> dict:
        return {"fields": [{"name": f.name, **({"vocabulary": f.vocabulary} if f.vocabulary is not None else {})} for f in self.fields],
                "dimension": self.dimension, "hidden": list(self.hidden), "projection": self.projection,
                "activation": "relu", "pooling": "mean", "normalization": "l2"}

    @classmethod
    def from_json(cls, value: dict) -> "TowerSpec":
        for key, supported in (("activation", "relu"), ("pooling", "mean"), ("normalization", "l2")):
            if value.get(key, supported) != supported:
                raise ValueError(f"{key} {value[key]!r} is not supported ({supported})")
        return cls(fields=[Field(f["name"], f.get("vocabulary")) for f in value["fields"]], dimension=value["dimension"],
                   hidden=list(value.get("hidden", [])), projection=bool(value.get("projection", False)))


def forward(spec: TowerSpec, weights: Dict[str, np.ndarray], side: str, inputs: Sequence[Bags]) -> Dict[str, np.ndarray]:
    """NumPy reference of a tower: every stage's output ("pooled", "hidden.K", "projection", "output")."""
    pooled = []
    for fld, (offsets, ids) in zip(spec.fields, inputs):
        table = weights[f"{side}.embeddings.{fld.name}"].astype(np.float32)
        out = np.zeros((len(offsets) - 1, spec.dimension), dtype=np.float32)
        for b in range(len(offsets) - 1):
            bag = ids[offsets[b]:offsets[b + 1]]
            if len(bag):
                out[b] = table[bag].mean(axis=0)
        pooled.append(out)
    x = np.concatenate(pooled, axis=1)
    stages = {"pooled": x}
    for k in range(len(spec.hidden)):
        x = np.maximum(x @ weights[f"{side}.hidden.{k}.weight"].T + weights[f"{side}.hidden.{k}.bias"], 0).astype(np.float32)
        stages[f"hidden.{k}"] = x
    if spec.projection:
        x = (x @ weights[f"{side}.projection.weight"].T + weights[f"{side}.projection.bias"]).astype(np.float32)
        stages["projection"] = x
    norms = np.maximum(np.linalg.norm(x, axis=1, keepdims=True), EPSILON)
    stages["output"] = (x / norms).astype(np.float32)
    return stages


@dataclass
class HandOff:
    """A hand-off in memory. `kind` is "embeddings" (users/items are the model) or "two-tower"."""
    kind: str
    user_ids: List[str]
    item_ids: List[str]
    users: Optional[np.ndarray] = None
    items: Optional[np.ndarray] = None
    user_tower: Optional[TowerSpec] = None
    item_tower: Optional[TowerSpec] = None
    weights: Dict[str, np.ndarray] = field(default_factory=dict)
    golden: Dict[str, np.ndarray] = field(default_factory=dict)
    tolerance: float = DEFAULT_TOLERANCE
    temperature: Optional[float] = None
    producer: Optional[str] = None

    # Loading and saving

    @classmethod
    def load(cls, directory) -> "HandOff":
        directory = Path(directory)
        spec = json.loads((directory / SPECIFICATION_FILE).read_text())
        if spec.get("format") != FORMAT or spec.get("version", 0) > VERSION:
            raise ValueError(f"{directory}: not a {FORMAT} version {VERSION} hand-off")
        handoff = cls(kind=spec["kind"], user_ids=read_ids(directory / USER_IDS_FILE), item_ids=read_ids(directory / ITEM_IDS_FILE),
                      tolerance=spec.get("tolerance", DEFAULT_TOLERANCE), temperature=spec.get("temperature"),
                      producer=spec.get("producer"))
        if (directory / EMBEDDINGS_FILE).exists():
            embeddings = load_tensors(directory / EMBEDDINGS_FILE)
            handoff.users, handoff.items = embeddings["users"], embeddings["items"]
        elif (directory / "users.npy").exists():
            handoff.users, handoff.items = np.load(directory / "users.npy"), np.load(directory / "items.npy")
        if handoff.kind == "two-tower":
            towers = spec["towers"]
            handoff.user_tower, handoff.item_tower = TowerSpec.from_json(towers["user"]), TowerSpec.from_json(towers["item"])
            handoff.weights = load_tensors(directory / WEIGHTS_FILE)
            handoff.golden = load_tensors(directory / GOLDEN_FILE)
        return handoff

    def save(self, directory, npy: bool = False) -> None:
        """Writes the hand-off (the directory is created if needed); embeddings as users.npy and items.npy
        with `npy`, else in embeddings.safetensors. Checks shapes first."""
        self.check()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        spec = {"format": FORMAT, "version": VERSION, "kind": self.kind, "tolerance": self.tolerance}
        if self.temperature is not None:
            spec["temperature"] = self.temperature
        if self.producer:
            spec["producer"] = self.producer
        if self.kind == "two-tower":
            spec["towers"] = {"user": self.user_tower.to_json(), "item": self.item_tower.to_json()}
        (directory / SPECIFICATION_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
        write_ids(directory / USER_IDS_FILE, self.user_ids)
        write_ids(directory / ITEM_IDS_FILE, self.item_ids)
        metadata = {"producer": self.producer} if self.producer else None
        if self.users is not None and npy:
            np.save(directory / "users.npy", np.ascontiguousarray(self.users, dtype=np.float32))
            np.save(directory / "items.npy", np.ascontiguousarray(self.items, dtype=np.float32))
        elif self.users is not None:
            save_tensors(directory / EMBEDDINGS_FILE, {"users": self.users, "items": self.items}, metadata)
        if self.kind == "two-tower":
            save_tensors(directory / WEIGHTS_FILE, self.weights, metadata)
            save_tensors(directory / GOLDEN_FILE, self.golden)

    def check(self) -> None:
        """Raises ValueError naming the first tensor whose presence or shape breaks the contract."""
        if self.kind not in ("embeddings", "two-tower"):
            raise ValueError(f"kind must be 'embeddings' or 'two-tower', not {self.kind!r}")
        for name, matrix, ids in (("users", self.users, self.user_ids), ("items", self.items, self.item_ids)):
            if matrix is None:
                if self.kind == "embeddings":
                    raise ValueError(f"an embeddings hand-off needs {name}")
                continue
            if matrix.ndim != 2 or matrix.shape[0] != len(ids):
                raise ValueError(f"{name} has shape {matrix.shape}; it needs one row per id ({len(ids)})")
        if self.kind == "two-tower":
            expected = self.weight_shapes()
            for name, shape in expected.items():
                if name not in self.weights:
                    raise ValueError(f"weight {name} is missing (shape {shape})")
                if tuple(self.weights[name].shape) != shape:
                    raise ValueError(f"weight {name} has shape {tuple(self.weights[name].shape)}, the towers need {shape}")
            stray = sorted(set(self.weights) - set(expected))
            if stray:
                raise ValueError(f"weight {stray[0]} is not part of the towers")
            for side in SIDES:
                if f"{side}.output" not in self.golden:
                    raise ValueError(f"golden {side}.output is missing (set_golden)")

    def weight_shapes(self) -> Dict[str, Tuple[int, ...]]:
        return {**self.user_tower.weight_shapes("user", len(self.user_ids)), **self.item_tower.weight_shapes("item", len(self.item_ids))}

    def tower(self, side: str) -> TowerSpec:
        return self.user_tower if side == "user" else self.item_tower

    # Golden inputs and outputs

    def golden_inputs(self, side: str, rows: int = 16) -> List[Bags]:
        """Golden inputs for `side`: the first `rows` ids and the unknown id, each with one value per content
        field (varied) and, every third row, an empty bag, so every stage and empty bags are exercised."""
        spec, ids = self.tower(side), (self.user_ids if side == "user" else self.item_ids)
        entities = list(range(min(rows, len(ids)))) + [len(ids)]
        inputs: List[Bags] = [(np.arange(len(entities) + 1, dtype=np.int64), np.array(entities, dtype=np.int64))]
        for f, fld in enumerate(spec.fields[1:], start=1):
            offsets, values = [0], []
            for r in range(len(entities)):
                if r % 3 != 2:
                    values.append((r * 7 + f) % len(fld.vocabulary))
                offsets.append(len(values))
            inputs.append((np.array(offsets, dtype=np.int64), np.array(values, dtype=np.int64)))
        return inputs

    def set_golden(self, side: str, inputs: Sequence[Bags], stages: Dict[str, np.ndarray]) -> None:
        """Stores golden inputs and the producer's outputs for them (at least "output")."""
        for fld, (offsets, ids) in zip(self.tower(side).fields, inputs):
            self.golden[f"{side}.input.{fld.name}.offsets"] = np.asarray(offsets, dtype=np.int64)
            self.golden[f"{side}.input.{fld.name}.ids"] = np.asarray(ids, dtype=np.int64)
        for stage, value in stages.items():
            self.golden[f"{side}.{stage}"] = np.asarray(value, dtype=np.float32)

    def make_golden(self, rows: int = 16, run: Optional[Callable[[str, List[Bags]], Dict[str, np.ndarray]]] = None) -> None:
        """Golden outputs from `run(side, inputs)` (the producer's own model: see `rummage.torch_tower`), or
        from the NumPy reference `forward` when none is given."""
        for side in SIDES:
            inputs = self.golden_inputs(side, rows)
            stages = run(side, inputs) if run else forward(self.tower(side), self.weights, side, inputs)
            self.set_golden(side, inputs, stages)

    def forward(self, side: str, inputs: Sequence[Bags]) -> Dict[str, np.ndarray]:
        """The NumPy reference of this hand-off's `side` tower."""
        return forward(self.tower(side), self.weights, side, inputs)

    def check_golden(self) -> float:
        """The largest difference between the NumPy reference and the golden outputs (what Rummage checks)."""
        worst = 0.0
        for side in SIDES:
            spec = self.tower(side)
            inputs = [(self.golden[f"{side}.input.{f.name}.offsets"], self.golden[f"{side}.input.{f.name}.ids"]) for f in spec.fields]
            for stage, value in self.forward(side, inputs).items():
                if f"{side}.{stage}" in self.golden:
                    worst = max(worst, float(np.max(np.abs(value - self.golden[f"{side}.{stage}"]), initial=0)))
        return worst

    def to_torch(self):
        """(user tower, item tower) as `torch.nn.Module`s (`rummage.torch_tower.Tower`) holding these weights."""
        from .torch_tower import Tower
        return tuple(Tower.from_handoff(self, side) for side in SIDES)


def embeddings_handoff(user_ids: Sequence[str], users: np.ndarray, item_ids: Sequence[str], items: np.ndarray,
                       producer: Optional[str] = None) -> HandOff:
    """A hand-off of trained embeddings only: served from the vectors (dot products)."""
    return HandOff(kind="embeddings", user_ids=[str(i) for i in user_ids], item_ids=[str(i) for i in item_ids],
                   users=np.asarray(users, dtype=np.float32), items=np.asarray(items, dtype=np.float32), producer=producer)
