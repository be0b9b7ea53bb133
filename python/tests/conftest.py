"""A `rummage serve` of the tests' own: a small generated marketplace, a trained model, API keys."""

import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

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
def server():
    """(base URL, API key with every scope); the server is stopped after the session."""
    work = Path(tempfile.mkdtemp(prefix="rummage-python-"))
    data, log, registry = work / "data", work / "events.sqlite", work / "registry"
    run("generate", "--out", str(data), "--users", "300", "--items", "800", "--events", "12000", "--seed", "4", "--jsonl", "--quiet")
    run("ingest", "--from", str(data / "events.jsonl"), "--log", str(log), "--quiet")
    pipeline = work / "pipeline.json"
    pipeline.write_text(json.dumps({
        "model": "mp", "registry": str(registry), "data": {"dataset": f"synthetic:{data}"},
        "train": {"kind": "two-tower", "settings": {"content": "true", "epochs": "1"}, "seed": 1},
        "gate": {"absolute": {}, "relative": {}}}))
    run("pipeline", "run", "--pipeline", str(pipeline), "--quiet")
    key = run("keys", "create", "--name", "python", "--scopes", "recommend,events,listings,admin,metrics",
              "--append", str(work / "keys")).splitlines()[0].strip()
    port = free_port()
    process = subprocess.Popen([RUMMAGE, "serve", "--registry", str(registry), "--model", "mp", "--log", str(log),
                                "--api-keys", str(work / "keys"), "--port", str(port), "--poll", "0"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                break
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                raise RuntimeError("rummage serve did not start")
            time.sleep(0.1)
    yield base, key
    process.terminate()
    process.wait(timeout=30)
