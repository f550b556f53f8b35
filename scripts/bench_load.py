"""Load benchmark: concurrent /ask calls on a real `rag serve` (not a test).

    flock /tmp/model.lock .venv/bin/python scripts/bench_load.py [--calls 8] [--llm NAME]
        [--code CHECKOUT]   # serve another checkout's code, e.g. to measure before a change

Starts `rag serve` on 127.0.0.1 with the default LLM (a temporary index built from seeds/
unless --index-dir is given), asks one warm-up question, then fires --calls questions at
once, each from its own gradio_client, for --rounds rounds. Reports each latency (submit to
answer, queue included), p50/p90, the server's resident memory at start, after the warm-up and
after each round (memory that settles is a bounded cache, memory that grows every round is a
leak), its peak, the load average, and any error in the server's log. From each answer record:
its retrieval time (embed_query + search) and the server's own time to the first token and to
the end (without the queue). The server gets this environment (RAG_THREADS included).
It loads the GGUF model: run it under the same `flock` as other model jobs on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 900  # first start: build the index, assemble and load the model
ERROR_MARKS = ("Traceback", "ERROR", "Exception", "error:")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=8, help="concurrent /ask calls")
    parser.add_argument("--llm", help="backend (default: the default LLM)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of calls (memory that grows each round leaks)"
    )
    parser.add_argument("--index-dir", help="index to serve (default: a temporary one)")
    parser.add_argument("--questions", default=str(ROOT / "tests/data/questions.jsonl"))
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--code", default=str(ROOT), help="checkout whose `rag` is served")
    args = parser.parse_args()

    questions = pick_questions(Path(args.questions), args.calls)
    with tempfile.TemporaryDirectory(prefix="rag-bench-load-") as work:
        index_dir = args.index_dir or str(Path(work) / "index")
        log_path = Path(work) / "serve.log"
        result = run(questions, index_dir, args.llm, log_path, args.rounds, Path(args.code))
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python "
    result["machine"] += platform.python_version()
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        print(report(result))
    answered = sum(r["answered"] for r in result["rounds"])
    return 0 if answered == len(questions) * args.rounds and not result["log_errors"] else 1


def pick_questions(path: Path, count: int) -> list[str]:
    """French and English answerable questions, alternating (the mix the app gets)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    french = [r["question"] for r in rows if r["answerable"] and r["language"] == "fr"]
    english = [r["question"] for r in rows if r["answerable"] and r["language"] == "en"]
    mixed = [q for pair in zip(french, english) for q in pair]
    if len(mixed) < count:
        raise SystemExit(f"only {len(mixed)} questions in {path}; ask for fewer --calls")
    return mixed[:count]


def run(
    questions: list[str], index_dir: str, llm: str | None, log_path: Path, rounds: int, code: Path
) -> dict:
    from gradio_client import Client

    port = free_port()
    command = [sys.executable, "-m", "rag", "serve", "--port", str(port)]
    command += ["--index-dir", index_dir] + (["--llm", llm] if llm else [])
    environment = {k: v for k, v in os.environ.items() if k != "RAG_AUTH"}
    environment["GRADIO_ANALYTICS_ENABLED"] = "False"
    environment["PYTHONPATH"] = str(code)  # `-m rag` finds the package in cwd first anyway
    result = {"load_average_before": os.getloadavg(), "rounds": [], "code": str(code)}
    result["rag_threads"] = environment.get("RAG_THREADS", "unset")
    with open(log_path, "w", encoding="utf-8") as log:
        started = time.perf_counter()
        server = subprocess.Popen(command, cwd=code, env=environment, stdout=log, stderr=log)
        try:
            wait_until_up(server, port)
            result["start_seconds"] = round(time.perf_counter() - started, 1)
            url = f"http://127.0.0.1:{port}/"
            result["rss_start_mb"] = rss_mb(server.pid)
            warm = time.perf_counter()
            first = Client(url, verbose=False).predict(questions[0], "", api_name="/ask")
            result["warm_up_seconds"] = round(time.perf_counter() - warm, 2)
            result["rss_warm_mb"] = rss_mb(server.pid)
            result["model"] = first.get("model")
            for _ in range(rounds):
                calls = concurrent_calls(url, questions)
                result["rounds"].append(summarise(calls, rss_mb(server.pid)))
            result["rss_peak_mb"] = peak_mb(server.pid)
        finally:
            stop(server)
    result["load_average_after"] = os.getloadavg()
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    result["log_errors"] = [
        line for line in log_text.splitlines() if any(m in line for m in ERROR_MARKS)
    ]
    return result


def summarise(calls: list[dict], rss_after: int) -> dict:
    """One round: latencies (submit to answer, queue included), outcomes, memory after."""
    latencies = [c["seconds"] for c in calls if c["record"]]
    records = [c["record"] for c in calls if c["record"]]
    timings = {
        kind: [r["timings"][kind] for r in records if r["timings"].get(kind) is not None]
        for kind in ("retrieve", "first_token", "total")
    }
    return {
        "calls": len(calls),
        "answered": len(records),
        "p50": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
        "p90": round(float(np.percentile(latencies, 90)), 2) if latencies else None,
        "max": round(max(latencies), 2) if latencies else None,
        "wall_seconds": round(max(c["end"] for c in calls) - min(c["start"] for c in calls), 2),
        "rss_after_mb": rss_after,
        "timings": {kind: _spread(values) for kind, values in timings.items()},
        "refused": sum(bool(r["refused"]) for r in records),
        "notices": dict(Counter(r["notice"] for r in records if r["notice"])),
        "failures": [c["error"] for c in calls if c["error"]],
        "per_call": [{"question": c["question"], "seconds": round(c["seconds"], 2)} for c in calls],
    }


def _spread(values: list[float]) -> dict:
    if not values:
        return {}
    return {
        "p50": round(float(np.percentile(values, 50)), 3),
        "p90": round(float(np.percentile(values, 90)), 3),
        "max": round(max(values), 3),
    }


def concurrent_calls(url: str, questions: list[str]) -> list[dict]:
    """Every question at once, each from its own client (created before the clock starts)."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in questions]
    barrier = threading.Barrier(len(questions))
    calls = [{"question": q, "record": None, "error": None} for q in questions]

    def call(i: int) -> None:
        barrier.wait()
        calls[i]["start"] = time.perf_counter()
        try:
            calls[i]["record"] = clients[i].predict(questions[i], "", api_name="/ask")
        except Exception as exc:  # any failure is a figure of the benchmark, not a crash
            calls[i]["error"] = f"{type(exc).__name__}: {exc}"
        calls[i]["end"] = time.perf_counter()
        calls[i]["seconds"] = calls[i]["end"] - calls[i]["start"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=1800)
    return calls


def report(result: dict) -> str:
    rounds = result["rounds"]
    calls = rounds[0]["calls"] if rounds else 0
    answered = sum(r["answered"] for r in rounds)
    failures = [f for r in rounds for f in r["failures"]]
    before, after = (
        ", ".join(f"{x:.2f}" for x in result[k])
        for k in ("load_average_before", "load_average_after")
    )
    lines = [
        f"{calls} concurrent /ask calls x {len(rounds)} rounds, model {result['model']}, "
        f"{result['machine']}; load average before [{before}], after [{after}]",
        f"code {result['code']}, RAG_THREADS {result['rag_threads']}",
        f"answered {answered}/{calls * len(rounds)}, failures {len(failures)}, errors in the "
        f"server log {len(result['log_errors'])}; server start {result['start_seconds']} s, "
        f"warm-up question {result['warm_up_seconds']} s",
        f"server RSS: {result['rss_start_mb']} MB at start (model loaded), "
        f"{result['rss_warm_mb']} MB after the warm-up question, peak {result['rss_peak_mb']} MB",
        "",
        "| round | answered | latency p50 | p90 | max | all answered after | RSS after |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, r in enumerate(rounds, 1):
        lines.append(
            f"| {number} | {r['answered']}/{r['calls']} | {r['p50']} s | {r['p90']} s "
            f"| {r['max']} s | {r['wall_seconds']} s | {r['rss_after_mb']} MB |"
        )
    lines += [
        "",
        "| round | retrieve p50 | p90 | max | first token p50 | p90 | answer p50 | p90 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, r in enumerate(rounds, 1):
        t = r["timings"]
        retrieve, first, total = (t.get(k, {}) for k in ("retrieve", "first_token", "total"))
        lines.append(
            f"| {number} | {retrieve.get('p50')} s | {retrieve.get('p90')} s "
            f"| {retrieve.get('max')} s | {first.get('p50')} s | {first.get('p90')} s "
            f"| {total.get('p50')} s | {total.get('p90')} s |"
        )
    notices = Counter()
    for r in rounds:
        notices.update(r["notices"])
    for item in failures + [f"{n} x notice: {t}" for t, n in notices.items()]:
        lines.append(f"  ! {item}")
    lines += [f"  ! log: {line}" for line in result["log_errors"]]
    return "\n".join(lines)


def rss_mb(pid: int) -> int:
    """Resident memory of the process and its children, in MB (from /proc)."""
    total = 0
    for process in [pid, *children(pid)]:
        total += _status_kb(process, "VmRSS")
    return round(total / 1024)


def peak_mb(pid: int) -> int:
    return round(_status_kb(pid, "VmHWM") / 1024)


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found += [int(entry.name), *children(int(entry.name))]
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(server: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:  # bounded
        if server.poll() is not None:
            raise SystemExit(f"rag serve exited with {server.returncode}; see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"rag serve did not start within {START_SECONDS} s")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
