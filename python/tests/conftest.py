"""The tests' own marketplace (generated, ingested, a two-tower registered) and `rummage serve`s of it."""

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
RUMMAGE = os.environ.get("RUMMAGE_BIN", str(REPOSITORY / ".build" / "release" / "rummage"))


def run(*arguments: str) -> str:
    return subprocess.run([RUMMAGE, *arguments], check=True, capture_output=True, text=True).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def marketplace():
    """work, data (a synthetic:DIR), log, registry (model "mp": a two-tower with content), keys and key."""
    work = Path(tempfile.mkdtemp(prefix="rummage-python-"))
    data, log, registry = work / "data", work / "events.sqlite", work / "registry"
    run("generate", "--out", str(data), "--users", "300", "--items", "800", "--events", "12000", "--seed", "4", "--jsonl", "--quiet")
    run("ingest", "--from", str(data / "events.jsonl"), "--log", str(log), "--quiet")
    run("pipeline", "run", "--pipeline", str(write_pipeline(work, "mp", data, registry,
                                                           {"kind": "two-tower", "settings": {"content": "true", "epochs": "1"}, "seed": 1})),
        "--quiet")
    key = run("keys", "create", "--name", "python", "--scopes", "recommend,events,listings,admin,metrics",
              "--append", str(work / "keys")).splitlines()[0].strip()
    surfaces = work / "surfaces.yaml"
    surfaces.write_text("surfaces:\n  new_in:\n    retrieval: new-in\n    new_within_hours: 720\n    exclude: [seen]\n")
    return SimpleNamespace(work=work, data=data, log=log, registry=registry, keys=work / "keys", key=key, surfaces=surfaces)


def write_pipeline(work: Path, model: str, data: Path, registry: Path, train: dict) -> Path:
    """A pipeline on the marketplace's data with a gate that blesses any version."""
    path = work / f"pipeline-{model}.json"
    path.write_text(json.dumps({"model": model, "registry": str(registry), "data": {"dataset": f"synthetic:{data}"},
                                "train": train, "gate": {"absolute": {}, "relative": {}}}))
    return path


@contextlib.contextmanager
def serving(marketplace, model: str):
    """A `rummage serve` of `model`'s champion; yields its base URL and stops it after."""
    port = free_port()
    process = subprocess.Popen([RUMMAGE, "serve", "--registry", str(marketplace.registry), "--model", model, "--log", str(marketplace.log),
                                "--api-keys", str(marketplace.keys), "--port", str(port), "--poll", "0",
                                "--surfaces", str(marketplace.surfaces)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    try:
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):
                    break
            except OSError:
                if time.time() > deadline or process.poll() is not None:
                    raise RuntimeError("rummage serve did not start")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def server(marketplace):
    """(base URL, API key with every scope) of a server of "mp"; stopped after the session."""
    with serving(marketplace, "mp") as base:
        yield base, marketplace.key
