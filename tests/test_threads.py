"""The thread budget: one count, chosen at start-up, reaches every pool (no model loaded)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag import threads
from rag.config import Settings
from rag.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

# A fresh interpreter: the pools of this one were sized when pytest's other tests loaded them.
START_UP = """
import contextlib, io, json, threading
from rag.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["models", "--json"])  # the CLI's start-up, as `rag serve` goes through it
import faiss, torch
from rag import threads
threads.for_torch()
seen = {"budget": threads.budget(), "omp_env": __import__("os").environ["OMP_NUM_THREADS"],
        "torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads(),
        "faiss_main": faiss.omp_get_max_threads()}
def worker():  # a new thread, as Gradio's workers are: OpenMP starts it at the default count
    seen["faiss_worker"] = faiss.omp_get_max_threads()
    threads.for_search()
    seen["faiss_search"] = faiss.omp_get_max_threads()
    threads.for_build()
    seen["faiss_build"] = faiss.omp_get_max_threads()
thread = threading.Thread(target=worker)
thread.start()
thread.join()
seen["llama"] = threads.llama_threads()
print(json.dumps(seen))
"""


def test_budget_from_rag_threads_reaches_torch_faiss_and_llama_cpp():
    environment = {**os.environ, "RAG_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for name in threads.THREAD_VARIABLES:
        environment.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", START_UP],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    # 1 is below this machine's core count (and would be the default on none but a 1-core one)
    assert seen == {
        "budget": 1,
        "omp_env": "1",
        "torch": 1,
        "torch_interop": 1,
        "faiss_main": 1,
        "faiss_worker": 1,
        "faiss_search": 1,
        "faiss_build": 1,
        "llama": {"n_threads": 1, "n_threads_batch": 1},
    }


def test_set_budget_writes_every_variable_and_zero_means_available_cores(monkeypatch):
    monkeypatch.setattr(threads, "_budget", 0)
    environ: dict[str, str] = {}
    assert threads.set_budget(3, environ=environ) == 3
    assert environ == {name: "3" for name in threads.THREAD_VARIABLES}
    assert threads.budget() == 3
    assert threads.llama_threads() == {"n_threads": 3, "n_threads_batch": 3}
    assert threads.llama_threads(2) == {"n_threads": 2, "n_threads_batch": 2}
    assert threads.set_budget(0, environ=environ) == threads.available_cores()


def test_available_cores_follow_affinity_and_cgroup_quota(tmp_path):
    assert 1 <= threads.available_cores() <= len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    for text, cores in [("max 100000", 0), ("150000 100000", 2), ("50000 100000", 1)]:
        quota.write_text(text + "\n")
        assert threads._cgroup_quota(quota) == cores
    assert threads._cgroup_quota(tmp_path / "absent") == 0


def test_negative_budget_is_refused():
    with pytest.raises(ConfigError, match="threads=-1"):
        Settings(threads=-1)
    assert Settings.load(environ={"RAG_THREADS": "2"}, toml_path="/nonexistent").threads == 2
