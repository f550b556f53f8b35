"""Benchmark: the vector index the product builds, at 100k and 1M chunks (not a test).

    .venv/bin/python scripts/bench_scale.py [--sizes 100000 1000000] [--dim 384] [--queries 200]
        [--backends faiss milvus] [--hnsw | --flat]

Synthetic clustered unit vectors stand in for e5-small chunk embeddings. The index comes from
`rag.index.vectors` (`make_faiss_index`, or `write_vectors` for Milvus Lite, searched through the
same `MilvusVectors` the Retriever uses), so the figures are those of whatever index an ingest
of that many chunks would choose; `--hnsw` forces HNSW at every size in both engines, `--flat`
gives Milvus FAISS's exact-search limit.
Prints a Markdown table (for docs/lab/) and writes the raw figures to bench-results/scale.json
(scale-milvus.json etc. when other backends are measured).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.answering.retrieval import CANDIDATES  # noqa: E402
from rag.eval.tables import markdown_table  # noqa: E402
from rag.eval.verdicts import percentile  # noqa: E402
from rag.index import vectors as vector_backends  # noqa: E402
from rag.index.vectors import make_faiss_index  # noqa: E402

CLUSTERS = 2_000  # "topics"; every size draws from the same centroids
NOISE = 1.0  # norm of a vector's offset from its centroid: cosine to the centroid about 0.7
BLOCK = 100_000  # rows generated at a time, so a smaller size is a prefix of a larger one
RECALL_AT = 10
MB = 1024 * 1024


def noise_scales(dim: int) -> np.ndarray:
    """Per-axis noise spread decaying like 1/sqrt(i): about 25 effective dimensions.

    Isotropic noise in 384 dimensions would be far harder for HNSW than text embeddings,
    whose intrinsic dimension is a few tens.
    """
    scales = 1.0 / np.sqrt(np.arange(1, dim + 1, dtype=np.float32))
    return (NOISE * scales / np.linalg.norm(scales)).astype(np.float32)


def clustered_vectors(count: int, centroids: np.ndarray, seed: int) -> np.ndarray:
    """Unit-normalised float32 rows: a random centroid plus anisotropic Gaussian noise."""
    rng = np.random.default_rng(seed)
    dim = centroids.shape[1]
    scales = noise_scales(dim)
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, BLOCK):
        rows = min(BLOCK, count - start)
        part = centroids[rng.integers(len(centroids), size=rows)]
        part += rng.standard_normal((rows, dim), dtype=np.float32) * scales
        part /= np.linalg.norm(part, axis=1, keepdims=True)
        out[start : start + rows] = part
    return out


def exact_top(queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Exact inner-product top-k rows per query, by blocks (no second copy of the vectors)."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), BLOCK):
        scores = queries @ vectors[start : start + BLOCK].T
        rows = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        scores = np.hstack([best_scores, scores])
        rows = np.hstack([best_rows, rows])
        keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, keep, axis=1)
        best_rows = np.take_along_axis(rows, keep, axis=1)
    order = np.argsort(-best_scores, axis=1)
    return np.take_along_axis(best_rows, order, axis=1)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(f[:k]) & set(t[:k])) for f, t in zip(found, truth))
    return hits / (k * len(truth))


def rss_mb() -> float:
    """Resident memory now (psutil when installed, else /proc)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / MB
    except ImportError:
        return _proc_status("VmRSS") / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux), so a peak can be taken per stage."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb(resettable: bool) -> float:
    if resettable:
        return _proc_status("VmHWM") / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _proc_status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])  # kB
    return 0.0


def time_searches(index, queries: np.ndarray, depth: int) -> tuple[list[float], list]:
    """Milliseconds per query, one question at a time as the Retriever asks, and the rows found."""
    for query in queries[:5]:  # warm-up: pages touched, OpenMP threads started
        index.search(query[None, :], depth)
    timings, found = [], []
    for query in queries:
        started = time.perf_counter()
        _scores, rows = index.search(query[None, :], depth)
        timings.append(1000 * (time.perf_counter() - started))
        found.append(rows[0])
    return timings, found


def summarise(timings: list[float]) -> dict:
    return {
        "median": round(statistics.median(timings), 2),
        "p90": round(percentile(timings, 90), 2),
        "max": round(max(timings), 2),
    }


def describe(index) -> dict:
    """What kind of FAISS index this is, read from the object itself."""
    import faiss

    kind = {"type": type(index).__name__}
    if isinstance(index, faiss.IndexHNSW):
        kind.update(
            M=index.hnsw.nb_neighbors(1),
            efConstruction=index.hnsw.efConstruction,
            efSearch=index.hnsw.efSearch,
        )
    return kind


def measure_milvus(size: int, vectors: np.ndarray, queries: np.ndarray, args, work: Path) -> dict:
    """Milvus Lite in this process, written and searched as an ingest and the Retriever do.

    Build time runs until the collection answers its first query (inserting, flushing, building
    the index and loading it), since Milvus may build its index lazily.
    """
    from pymilvus import __version__ as pymilvus_version

    vectors = vectors[:size]
    depth = min(CANDIDATES, size)
    result: dict = {"backend": "milvus", "chunks": size, "k": depth}
    folder = work / f"milvus-{size}"
    folder.mkdir()
    doc_ids = [f"doc-{row // 20}" for row in range(size)]  # 20 chunks an article

    before = rss_mb()
    resettable = reset_peak_rss()
    started = time.perf_counter()
    record = vector_backends.write_vectors("milvus", folder, "bench", work, vectors, doc_ids)
    store = vector_backends.open_vectors(record, folder, vectors)
    store.search(queries[0], depth)
    result["build_s"] = round(time.perf_counter() - started, 1)
    result["index"] = {"type": f"Milvus Lite {_milvus_lite_version()}, {record['kind']}"}
    if record["kind"] != "flat-ip":
        result["index"].update(
            M=vector_backends.HNSW_NEIGHBOURS,
            efConstruction=vector_backends.HNSW_EF_CONSTRUCTION,
            efSearch=vector_backends.HNSW_EF_SEARCH,
        )
    result["client"] = f"pymilvus {pymilvus_version}"
    result["rss_before_mb"] = round(before)
    result["rss_growth_mb"] = round(rss_mb() - before)
    result["peak_rss_mb"] = round(peak_rss_mb(resettable))
    result["peak_is_per_stage"] = resettable
    result["disk_mb"] = round(
        sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / MB, 1
    )
    print(f"  milvus {size:,}: built {result['index']} in {result['build_s']} s", file=sys.stderr)

    timings, found = time_searches(_RowSearch(store), queries, depth)
    result["search_ms"] = summarise(timings)
    result["search_ms_1_thread"] = None  # the server's threads are its own
    # A period filter: a tenth of the articles, as the Retriever passes it (doc_ids).
    allowed = {f"doc-{n}" for n in range(0, size // 20, 10)}
    filtered = [store.search(q, depth, None, allowed) for q in queries[:20]]
    result["filtered_ok"] = all(
        doc_ids[row] in allowed for hits in filtered for row, _ in hits
    ) and all(len(hits) == depth for hits in filtered)
    _add_recall(result, found, queries, vectors, depth, args, f"milvus {size:,}")
    vector_backends.release_lite(folder)
    return result


def _add_recall(result: dict, found, queries, vectors, depth: int, args, label: str) -> None:
    """recall@10 and recall@k of the searches `found`, against exact search, into `result`."""
    sample = min(args.recall_queries, len(queries))
    truth = exact_top(queries[:sample], vectors, depth)
    result["recall_queries"] = sample
    result[f"recall@{RECALL_AT}"] = round(recall(found[:sample], truth, RECALL_AT), 4)
    result["recall@k"] = round(recall(found[:sample], truth, depth), 4)
    print(
        f"  {label}: search median {result['search_ms']['median']} ms, "
        f"recall@{RECALL_AT} {result[f'recall@{RECALL_AT}']}",
        file=sys.stderr,
    )


class _RowSearch:
    """A VectorStore searched with FAISS's call shape, so `time_searches` times either."""

    def __init__(self, store) -> None:
        self.store = store

    def search(self, batch: np.ndarray, k: int):
        pairs = self.store.search(batch[0], k)
        return None, [[row for row, _ in pairs]]


def _milvus_lite_version() -> str:
    from importlib.metadata import version

    return version("milvus-lite")


def measure(size: int, vectors: np.ndarray, queries: np.ndarray, args, work: Path) -> dict:
    import faiss

    vectors = vectors[:size]
    depth = min(CANDIDATES, size)
    result: dict = {"backend": "faiss", "chunks": size, "k": depth}

    before = rss_mb()
    resettable = reset_peak_rss()
    started = time.perf_counter()
    index = make_faiss_index(vectors)
    result["build_s"] = round(time.perf_counter() - started, 1)
    result["index"] = describe(index)
    result["rss_before_mb"] = round(before)
    result["rss_growth_mb"] = round(rss_mb() - before)
    result["peak_rss_mb"] = round(peak_rss_mb(resettable))
    result["peak_is_per_stage"] = resettable
    print(f"  {size:,}: built {result['index']} in {result['build_s']} s", file=sys.stderr)

    path = work / f"faiss-{size}.index"
    faiss.write_index(index, str(path))
    result["disk_mb"] = round(path.stat().st_size / MB, 1)
    path.unlink()

    timings, found = time_searches(index, queries, depth)
    result["search_ms"] = summarise(timings)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # an OpenMP team for one query can cost more than it saves
    result["search_ms_1_thread"] = summarise(time_searches(index, queries, depth)[0])
    faiss.omp_set_num_threads(threads)

    _add_recall(result, found, queries, vectors, depth, args, f"{size:,}")
    del index
    return result


def main() -> int:
    import faiss

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=384, help="384 like e5-small")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=100, help="exact-search subsample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench-results"))
    parser.add_argument(
        "--backends", nargs="+", default=["faiss"], choices=["faiss", "milvus"], help="engines"
    )
    parser.add_argument(
        "--hnsw", action="store_true", help="HNSW at every size (the product: above 200k only)"
    )
    parser.add_argument(
        "--flat", action="store_true", help="Milvus exact up to FAISS's limit too (200k)"
    )
    args = parser.parse_args()
    if args.hnsw:
        vector_backends.FLAT_INDEX_LIMIT = 0  # index_kind reads them at each call
        vector_backends.MILVUS_FLAT_INDEX_LIMIT = 0
    if args.flat:
        vector_backends.MILVUS_FLAT_INDEX_LIMIT = vector_backends.FLAT_INDEX_LIMIT
    started = time.perf_counter()

    # Build with every core this process may use (the OpenMP default too, unless OMP_NUM_THREADS
    # says otherwise); said explicitly so the figures state what they were measured with.
    faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
    rng = np.random.default_rng(args.seed)
    centroids = rng.standard_normal((CLUSTERS, args.dim), dtype=np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    largest = max(args.sizes)
    print(f"generating {largest:,} x {args.dim} vectors", file=sys.stderr)
    vectors = clustered_vectors(largest, centroids, args.seed + 1)
    queries = clustered_vectors(args.queries, centroids, args.seed + 2)

    results: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "faiss": faiss.__version__,
        "faiss_threads": faiss.omp_get_max_threads(),
        "dim": args.dim,
        "queries": args.queries,
        "data": f"{CLUSTERS} random unit centroids + anisotropic Gaussian noise of norm {NOISE}, "
        f"normalised; seed {args.seed}",
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "sizes": [],
    }
    with tempfile.TemporaryDirectory(prefix="rag-bench-scale-") as work:
        for size in sorted(args.sizes):
            for backend in args.backends:
                run = measure if backend == "faiss" else measure_milvus
                results["sizes"].append(run(size, vectors, queries, args, Path(work)))
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["total_s"] = round(time.perf_counter() - started, 1)

    out = Path(args.out)
    out.mkdir(exist_ok=True)
    name = "-".join(["scale", *[b for b in args.backends if b != "faiss"]])
    name += "-hnsw" if args.hnsw else "-flat" if args.flat else ""
    (out / f"{name}.json").write_text(json.dumps(results, indent=1), "utf-8")
    print(markdown(results))
    return 0


def markdown(results: dict) -> str:
    depth = results["sizes"][0]["k"] if results["sizes"] else CANDIDATES
    lines = [
        f"Measured {results['date']} on {results['machine']}, shared with other work (load "
        f"average {results['load_average_before'][0]} before, {results['load_average_after'][0]} "
        f"after); faiss {results['faiss']}, {results['faiss_threads']} threads; "
        f"{results['dim']}-d synthetic vectors ({results['data']}); {results['queries']} "
        f"single queries, k={depth} as the Retriever asks. Whole run "
        f"{results['total_s'] / 60:.1f} min.",
        "",
    ]
    header = (
        "chunks",
        "backend",
        "index (chosen by `rag.index.vectors`)",
        "build",
        "RSS growth / peak",
        "on disk",
        "search median / p90",
        "same, 1 thread",
        f"recall@{RECALL_AT}",
        f"recall@{depth}",
    )
    rows = []
    for row in results["sizes"]:
        kind = row["index"]
        label = kind["type"]
        if "M" in kind:
            label += f" (M={kind['M']}, efC={kind['efConstruction']}, efS={kind['efSearch']})"
        fast, single = row["search_ms"], row["search_ms_1_thread"]
        rows.append(
            (
                f"{row['chunks']:,}",
                row.get("backend", "faiss"),
                label,
                f"{row['build_s']} s",
                f"{row['rss_growth_mb']:,} MB / {row['peak_rss_mb']:,} MB",
                f"{row['disk_mb']:,} MB",
                f"{fast['median']} / {fast['p90']} ms",
                f"{single['median']} / {single['p90']} ms" if single else "n/a",
                f"{row[f'recall@{RECALL_AT}']:.3f}",
                f"{row['recall@k']:.3f}",
            )
        )
    lines.append(markdown_table(header, rows))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
