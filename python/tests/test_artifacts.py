"""The hand-off path without torch: hand-offs built with numpy + safetensors are imported, gated, registered
and served; tampered ones are refused naming the tensor; a native model round-trips bit for bit."""

import json
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import RUMMAGE, run, serving, write_pipeline
from rummage import RummageClient
from rummage.artifacts import Field, HandOff, TowerSpec, embeddings_handoff, read_ids


@pytest.fixture(scope="module")
def exported(marketplace):
    """The marketplace's ids and content fields, as `rummage export` writes them."""
    out = marketplace.work / "export"
    run("export", "--dataset", f"synthetic:{marketplace.data}", "--out", str(out))
    return SimpleNamespace(user_ids=read_ids(out / "user_ids.txt"), item_ids=read_ids(out / "item_ids.txt"),
                           features=json.loads((out / "features.json").read_text()))


def import_handoff(marketplace, directory, model):
    """`rummage import` of `directory` through a pipeline registering `model`; the completed process."""
    pipeline = write_pipeline(marketplace.work, model, marketplace.data, marketplace.registry, {"kind": "two-tower"})
    return subprocess.run([RUMMAGE, "import", "--handoff", str(directory), "--pipeline", str(pipeline), "--json"],
                          capture_output=True, text=True)


def two_tower_handoff(exported, seed=0) -> HandOff:
    """Random towers (an id-only user tower; an item tower of id + category with a hidden layer and a
    projection) whose golden outputs come from the numpy reference."""
    rng = np.random.default_rng(seed)
    category = next(f for f in exported.features["items"] if f["name"] == "category")
    handoff = HandOff(kind="two-tower", user_ids=exported.user_ids, item_ids=exported.item_ids,
                      user_tower=TowerSpec([Field("id")], dimension=8),
                      item_tower=TowerSpec([Field("id"), Field("category", category["vocabulary"])], dimension=8, hidden=[16],
                                           projection=True),
                      temperature=0.1, producer="pytest, numpy only")
    handoff.weights = {name: rng.normal(0, 0.3, shape).astype(np.float32) for name, shape in handoff.weight_shapes().items()}
    handoff.make_golden()
    return handoff


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_an_embeddings_handoff_is_imported_gated_registered_and_served(marketplace, exported, tmp_path):
    rng = np.random.default_rng(1)
    users = rng.normal(size=(len(exported.user_ids), 8)).astype(np.float32)
    items = rng.normal(size=(len(exported.item_ids), 8)).astype(np.float32)
    embeddings_handoff(exported.user_ids, users, exported.item_ids, items, producer="pytest").save(tmp_path / "h", npy=True)
    assert (tmp_path / "h" / "users.npy").exists()
    done = import_handoff(marketplace, tmp_path / "h", "emb")
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert result["blessed"] and result["source"]["handoff_kind"] == "embeddings"
    assert result["source"]["matched"] == f"{len(users)}/{len(users)} users, {len(items)}/{len(items)} items"
    with serving(marketplace, "emb") as base:
        answer = RummageClient(base, api_key=marketplace.key).recommendations(exported.user_ids[0], k=5)
        assert answer.model_version == result["version"] and len(answer.items) == 5
        assert all(item.item in exported.item_ids for item in answer.items)
        scores = [item.score for item in answer.items]
        assert scores == sorted(scores, reverse=True)


def test_a_two_tower_handoff_built_with_numpy_is_imported_and_served(marketplace, exported, tmp_path):
    handoff = two_tower_handoff(exported)
    handoff.save(tmp_path / "h")
    done = import_handoff(marketplace, tmp_path / "h", "tt")
    assert done.returncode == 0, done.stderr
    source = last_json(done.stdout)["source"]
    assert float(source["parity_max_abs_error"]) <= 1e-4
    assert "item.hidden.0" in source["parity_tensors"] and source["producer"] == "pytest, numpy only"
    with serving(marketplace, "tt") as base:
        client = RummageClient(base, api_key=marketplace.key)
        answer = client.recommendations(exported.user_ids[3], k=10)
        assert len(answer.items) == 10
        similar = client.similar(answer.items[0].item, k=5)
        assert len(similar.items) == 5 and answer.items[0].item not in [i.item for i in similar.items]


def test_a_tampered_weight_or_a_wrong_golden_vector_is_refused_naming_the_tensor(marketplace, exported, tmp_path):
    tampered = two_tower_handoff(exported)
    tampered.weights["item.hidden.0.weight"][1, 2] += 0.5
    tampered.save(tmp_path / "weight")
    done = import_handoff(marketplace, tmp_path / "weight", "refused")
    assert done.returncode == 65
    assert "golden tensor item.hidden.0 differs" in done.stderr and "item.hidden.0.weight" in done.stderr

    wrong = two_tower_handoff(exported)
    wrong.golden["user.output"][1, 0] += 0.01
    wrong.save(tmp_path / "golden")
    done = import_handoff(marketplace, tmp_path / "golden", "refused")
    assert done.returncode == 65 and "golden tensor user.output differs" in done.stderr and "row 1, column 0" in done.stderr
    assert "refused" not in run("registry", "list", "--registry", str(marketplace.registry))


def test_a_native_model_round_trips_through_python_bit_for_bit(marketplace, tmp_path):
    run("export-model", "--registry", str(marketplace.registry), "--model", "mp", "--out", str(tmp_path / "a"), "--quiet")
    exported = HandOff.load(tmp_path / "a")
    assert exported.kind == "two-tower" and exported.item_tower.hidden == [] and exported.item_tower.projection
    assert exported.check_golden() < 1e-5, "the numpy reference computes what Rummage's towers compute"
    exported.save(tmp_path / "b")
    run("train", "--dataset", f"synthetic:{marketplace.data}", "--kind", "handoff", "--set", f"path={tmp_path / 'b'}",
        "--out", str(tmp_path / "m.rmg"), "--quiet")
    run("export-model", "--artifact", str(tmp_path / "m.rmg"), "--dataset", f"synthetic:{marketplace.data}", "--out", str(tmp_path / "c"),
        "--quiet")
    again = HandOff.load(tmp_path / "c")
    assert np.array_equal(again.users, exported.users) and np.array_equal(again.items, exported.items)
    assert again.user_ids == exported.user_ids and again.item_ids == exported.item_ids
    assert all(np.array_equal(again.weights[name], exported.weights[name]) for name in exported.weights)
