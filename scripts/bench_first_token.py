"""Benchmark: first token of the first question, in a served app and in a cold `rag ask`.

    flock /tmp/rag-heavy.lock .venv/bin/python scripts/bench_first_token.py serve --runs 3
    flock /tmp/rag-heavy.lock .venv/bin/python scripts/bench_first_token.py ask --runs 5
    ... --before /tmp/rag-before   # also time another checkout of the code (e.g. the last
                                     # release, `git archive REV | tar -x -C /tmp/rag-before`)

`serve`: starts `rag serve`, asks 10 questions through the `/ask` API as soon as it accepts
connections (the 1st and the 10th are the same question), and reports the first token of the
1st and of the 10th, over several server starts. `ask`: runs `rag ask Q --json` in a new
process each time and reports its first token and wall time. Both compare the code with no
saved prompt state (`prompt_state_mb=0`), with its saved states, and `--before`'s code; the
variants run in turn (A B C A B C ...) so that a drift of the machine's speed hits them alike.
Timing targets are checked by reading the output, never asserted (a busy machine would fail them).
Prints Markdown and writes the raw figures to bench-results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FIRST = "Avec quel pays africain la Chine s'est-elle associée pour lancer cette initiative IA ?"
QUESTIONS = [  # the 1st and the 10th are the same question; both languages in between
    FIRST,
    "Who is the Chinese foreign minister who launched the plan?",
    "Dans quelle ville Li Qiang a-t-il pris la parole à l'ouverture de la WAIC ?",
    "What is the name of Baidu's AI model series?",
    "Quelles entreprises mènent les avancées chinoises en intelligence artificielle ?",
    "In which city did Li Qiang speak at the World Artificial Intelligence Conference?",
    "Comment s'appelle le modèle d'IA de Tencent ?",
    "Which iFlytek model has shown exceptional benchmarks?",
    "Qui a lancé le plan chinois sur l'IA lors d'une réunion aux Nations Unies ?",
    FIRST,
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("measure", choices=["serve", "ask"])
    parser.add_argument("--runs", type=int, default=3, help="server starts or `rag ask` runs")
    parser.add_argument("--llm", default="qwen2.5-coder-1.5b")
    parser.add_argument("--before", help="another checkout of the code to time beside this one")
    parser.add_argument("--index-dir", default=str(ROOT / "index"), help="a built seed index")
    parser.add_argument("--out", default=str(ROOT / "bench-results"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rag-first-token-"))
    states = work / "states"  # this run's saved states, apart from the shared model cache
    variants = {
        "no saved state": {"code": ROOT, "env": {"RAG_PROMPT_STATE_MB": "0"}},
        "saved states": {"code": ROOT, "env": {"RAG_PROMPT_STATE_DIR": str(states)}},
    }
    if args.before:
        variants = {"before": {"code": Path(args.before), "env": {}}, **variants}
    base = [sys.executable, "-m", "rag"]
    common = ["--llm", args.llm, "--index-dir", args.index_dir]
    try:
        # The index is built, and the saved states written, before anything is timed.
        prepare = _env(ROOT, {"RAG_PROMPT_STATE_DIR": str(states)})
        subprocess.run([*base, "ask", FIRST, *common], env=prepare, check=True, cwd=ROOT)
        subprocess.run(
            [*base, "ask", QUESTIONS[1], *common], env=prepare, check=True, cwd=ROOT
        )  # both languages' answer prompts
        if args.measure == "serve":  # a first start warms and saves the other prefixes too
            _serve_once(base, common, prepare, ROOT)
        rows = []
        for run in range(args.runs):
            for name, variant in variants.items():
                env = _env(variant["code"], variant["env"])
                if args.measure == "serve":
                    row = _serve_once(base, common, env, variant["code"])
                else:
                    row = _ask_once(base, common, env, variant["code"])
                rows.append({"variant": name, "run": run, **row})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}",
        "llm": args.llm,
        "measure": args.measure,
        "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    name = f"first-token-{args.measure}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    (out / name).write_text(json.dumps(results, indent=1), "utf-8")
    print(markdown(results))
    return 0


def _env(code: Path, extra: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "GRADIO_ANALYTICS_ENABLED": "False", **extra}
    env.pop("RAG_LLM", None)
    return env


def _ask_once(base, common, env, code) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [*base, "ask", FIRST, "--json", *common],
        env=env,
        cwd=code,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    record = json.loads(done.stdout.strip().splitlines()[-1])
    return {"first_token": record["timings"]["first_token"], "wall": wall}


def _serve_once(base, common, env, code) -> dict:
    from gradio_client import Client

    port = _free_port()
    log = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen(
        [*base, "serve", "--port", str(port), *common],
        env=env,
        cwd=code,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = time.perf_counter()
    try:
        while True:
            if server.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"rag serve ended: {log.read()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        accepting = time.perf_counter() - started
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        first_tokens = []
        for question in QUESTIONS:
            record = client.predict(question, api_name="/ask")
            first_tokens.append(record["timings"]["first_token"])
        log.seek(0)
        ready = [line for line in log.read().splitlines() if "is ready" in line]
        return {
            "first": first_tokens[0],
            "tenth": first_tokens[-1],
            "all": first_tokens,
            "accepting_after": accepting,
            "ready_line": ready[-1] if ready else None,
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spread(values: list[float]) -> str:
    return (
        f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, "
        f"n={len(values)})"
    )


def markdown(results: dict) -> str:
    rows = results["rows"]
    names = list(dict.fromkeys(row["variant"] for row in rows))
    lines = [
        f"Measured {results['date']} on {results['machine']}; model {results['llm']}.",
        "",
    ]
    if results["measure"] == "serve":
        lines += [
            "| code | 1st question, first token | 10th question, first token | 1st / 10th |",
            "|---|---|---|---|",
        ]
        for name in names:
            mine = [row for row in rows if row["variant"] == name]
            ratios = [row["first"] / row["tenth"] for row in mine]
            lines.append(
                f"| {name} | {_spread([r['first'] for r in mine])} | "
                f"{_spread([r['tenth'] for r in mine])} | {_spread(ratios).replace(' s', '')} |"
            )
    else:
        lines += ["| code | first token | whole process |", "|---|---|---|"]
        for name in names:
            mine = [row for row in rows if row["variant"] == name]
            lines.append(
                f"| {name} | {_spread([r['first_token'] for r in mine])} | "
                f"{_spread([r['wall'] for r in mine])} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
