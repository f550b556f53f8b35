"""How many OpenMP threads FAISS uses: one to search a single vector, every core to build.

One query vector is searched 3-5x faster on one OpenMP thread than on two (100k flat chunks:
12 ms against 60 ms, scripts/bench_scale.py); building an HNSW index wants every core.
OpenMP keeps this count per calling thread (a count set in the main thread does not reach the
app's worker threads), so each thread sets it when its kind of work changes: a thread that
only searches sets it once.
"""

from __future__ import annotations

import threading

SEARCH_THREADS = 1

_current = threading.local()  # this thread's kind of FAISS work, and OpenMP's count before it


def for_search() -> None:
    """This thread's next FAISS calls search one vector at a time."""
    _use("search")


def for_build() -> None:
    """This thread's next FAISS calls build an index."""
    _use("build")


def _use(kind: str) -> None:
    if getattr(_current, "kind", "build") == kind:  # a new thread starts with OpenMP's count
        return
    import faiss

    if not hasattr(_current, "default"):
        _current.default = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(SEARCH_THREADS if kind == "search" else _current.default)
    _current.kind = kind
