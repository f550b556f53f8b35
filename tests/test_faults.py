"""Fault and abuse injection: what a careless user or an attacker does, against the real thing.

One test (or more) per finding of issue 11: symlinks and special files in the corpus, a damaged
index whose folder is elsewhere or gone, an ingest that would empty an index, the app on the
network without a login, upload limits, hostile article text, a backend that never answers,
two ingests at once, progress on a terminal. Processes are real (`python -m rag`), signals are
real (SIGKILL), servers are real sockets on 127.0.0.1. Those that start the CLI or a browser
are marked slow; the library-level ones run with the fast tests.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag.backends.llms import OpenAICompatibleLLM
from rag.config import Settings
from rag.errors import ConfigError, LLMError
from rag.index.engine import add_articles, ingest
from rag.index.store import load_index
from rag.ingest.corpus import load_corpus
from tests.conftest import ROOT, SEEDS, free_port, stop

SECRET = "zorglub-secret-4242"
ARTICLES = {
    "brest.txt": "Brest inaugure le supercalculateur Kerguelen\n\nLa ville de Brest a inauguré "
    "le 11 mars 2025 un supercalculateur baptisé Kerguelen, consacré à l'océanographie.",
    "lusaka.txt": "La Zambie et la Chine signent un accord\n\nÀ Lusaka, la Zambie et la Chine "
    "ont signé un accord sur l'intelligence artificielle et le cuivre en décembre 2024.",
    "lyon.txt": "Lyon ouvre une école de robotique\n\nUne école de robotique a ouvert ses "
    "portes à Lyon en septembre 2024 ; elle accueille trois cents élèves.",
}


def write_articles(folder: Path, count: int | None = None) -> Path:
    """The three short articles, or `count` numbered variants of them (a bigger corpus)."""
    folder.mkdir(parents=True, exist_ok=True)
    if count is None:
        for name, text in ARTICLES.items():
            (folder / name).write_text(text, encoding="utf-8")
        return folder
    texts = list(ARTICLES.values())
    for i in range(count):
        updates = " ".join(f"Mise à jour {j} de la dépêche {i} : rien de neuf." for j in range(6))
        text = f"{texts[i % len(texts)]}\n\n{updates}"
        (folder / f"depeche_{i:03d}.txt").write_text(text, encoding="utf-8")
    return folder


def rag(*args, cwd=ROOT, env=None, timeout=300, check=False):
    """`python -m rag ARGS` as a real process; the CompletedProcess."""
    environment = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    environment.pop("RAG_AUTH", None)  # only the test's own
    environment.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", "rag", *map(str, args)],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"rag {args} failed:\n{result.stderr}")
    return result


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes (to show that nothing was touched)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def corrupt_manifest(index_dir: Path) -> None:
    generation = (index_dir / "CURRENT").read_text().strip()
    (index_dir / generation / "manifest.json").write_text("{ not json", encoding="utf-8")


# --- 1. the corpus is the files the user chose ------------------------------------------------


def test_links_out_of_the_folder_and_special_files_are_skipped_and_named(tmp_path):
    secret = tmp_path / "outside" / "passwd"
    secret.parent.mkdir()
    secret.write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n", encoding="utf-8")
    corpus = write_articles(tmp_path / "corpus")
    (corpus / "leak.txt").symlink_to(secret)
    (corpus / "alias.txt").symlink_to(corpus / "brest.txt")  # inside the folder: allowed
    (corpus / "gone.txt").symlink_to(corpus / "deleted.txt")
    (corpus / "sub").symlink_to(secret.parent, target_is_directory=True)
    os.mkfifo(corpus / "pipe.txt")  # reading it would block the ingest forever
    (corpus / "report.odt").write_bytes(b"PK\x03\x04")

    result = load_corpus(corpus)

    assert sorted(Path(d.path).name for d in result.documents) == [
        "alias.txt",
        "brest.txt",
        "lusaka.txt",
        "lyon.txt",
    ]
    assert all(SECRET not in d.text for d in result.documents)
    reasons = {Path(s.path).name: s.reason for s in result.skipped}
    assert set(reasons) == {"leak.txt", "gone.txt", "sub", "pipe.txt", "report.odt"}
    assert "outside the article folder" in reasons["leak.txt"]
    assert "broken link" in reasons["gone.txt"]
    assert "links are not followed" in reasons["sub"]
    assert "named pipe" in reasons["pipe.txt"]
    assert "unsupported file type (.odt)" in reasons["report.odt"]


@pytest.mark.slow
def test_ingest_names_every_skipped_file_and_the_link_leaks_nothing(tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n", encoding="utf-8")
    corpus = write_articles(tmp_path / "corpus")
    (corpus / "leak.txt").symlink_to(secret)
    (corpus / "report.odt").write_bytes(b"PK\x03\x04")
    (corpus / "empty.html").write_text("<html><body><p></p></body></html>", encoding="utf-8")
    os.mkfifo(corpus / "pipe.md")
    index_dir = tmp_path / "index"

    out = rag("ingest", corpus, "--index-dir", index_dir, check=True)

    assert "3 documents" in out.stdout
    summary = out.stderr.split("4 file(s) skipped:")[1]  # the summary at the end names each
    for name, reason in (
        ("leak.txt", "outside the article folder"),
        ("report.odt", "unsupported file type"),
        ("empty.html", "no article text"),
        ("pipe.md", "named pipe"),
    ):
        assert any(name in line and reason in line for line in summary.splitlines()), name
    assert "discarding data" not in out.stderr  # trafilatura's own stray warning
    hits = json.loads(rag("search", "root bash", "--json", "--index-dir", index_dir).stdout)
    assert hits["hits"] and all(SECRET not in h["text"] for h in hits["hits"])


# --- 2. an index knows where its articles come from ------------------------------------------


@pytest.mark.slow
def test_a_damaged_index_is_rebuilt_from_its_own_folder_from_anywhere(tmp_path):
    other = write_articles(tmp_path / "other", count=8)
    index_dir = tmp_path / "big"
    rag("ingest", other, "--index-dir", index_dir, check=True)
    corrupt_manifest(index_dir)
    elsewhere = tmp_path / "elsewhere"  # no seeds/ here
    elsewhere.mkdir()

    out = rag("search", "Kerguelen", "--json", "--index-dir", index_dir, cwd=elsewhere)

    assert out.returncode == 0, out.stderr
    assert "damaged" in out.stderr and f"rebuilding the index from {other}" in out.stderr
    assert json.loads(out.stdout)["hits"]
    assert len(load_index(index_dir).documents) == 8
    assert not any(d.startswith("00") for d in load_index(index_dir).documents)  # no seed


@pytest.mark.slow
def test_a_damaged_index_whose_folder_is_gone_is_left_untouched(tmp_path):
    other = write_articles(tmp_path / "other")
    index_dir = tmp_path / "index"
    rag("ingest", other, "--index-dir", index_dir, check=True)
    corrupt_manifest(index_dir)
    other.rename(tmp_path / "moved")
    before = snapshot(index_dir)

    out = rag("search", "Kerguelen", "--json", "--index-dir", index_dir)  # from the project

    assert out.returncode == 2
    assert f"came from {other}, which is gone" in out.stderr and "left as it is" in out.stderr
    assert "Traceback" not in out.stderr
    assert snapshot(index_dir) == before


@pytest.mark.slow
def test_an_ingest_that_would_empty_an_index_from_another_folder_needs_replace(tmp_path):
    other = write_articles(tmp_path / "other", count=12)
    index_dir = tmp_path / "index"
    rag("ingest", other, "--index-dir", index_dir, check=True)
    before = snapshot(index_dir)

    out = rag("ingest", SEEDS, "--index-dir", index_dir)

    assert out.returncode == 2 and "--replace" in out.stderr
    assert "holds 12 articles" in out.stderr and "would leave 5" in out.stderr
    assert snapshot(index_dir) == before
    # The index's own folder with no argument: still the 12 articles.
    assert "12 unchanged" in rag("ingest", "--index-dir", index_dir, check=True).stdout
    out = rag("ingest", SEEDS, "--index-dir", index_dir, "--replace", check=True)
    assert "5 added" in out.stdout and "12 removed" in out.stdout


def test_uploads_reindex_the_index_s_own_folder_not_the_default_one(tmp_path, hashing_embedder):
    other = write_articles(tmp_path / "other")
    settings = Settings(index_dir=str(tmp_path / "index"), corpus_dir=str(SEEDS))
    ingest(settings, other, embedder=hashing_embedder)
    upload = tmp_path / "nantes.txt"
    upload.write_text("Nantes accueille un salon de l'intelligence artificielle.", "utf-8")

    added, refused = add_articles(settings, [upload], hashing_embedder)

    assert added == ["nantes"] and refused == []
    documents = load_index(settings.index_dir).documents
    assert sorted(documents) == ["brest", "lusaka", "lyon", "nantes"]  # and no seed article
    manifest = load_index(settings.index_dir).manifest
    assert manifest["sources"]["folders"] == [str(other)]
    assert manifest["sources"]["uploads"] == ["nantes.txt"]


# --- 3. safe exposure -------------------------------------------------------------------------


def test_exposure_rules():
    from rag.exposure import check_exposure, parse_auth

    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert check_exposure(host, None, public=False) is None, host
    for host in ("0.0.0.0", "::", "192.0.2.10"):
        with pytest.raises(ConfigError, match="RAG_AUTH=user:password.*--public"):
            check_exposure(host, None, public=False)
        assert check_exposure(host, ("ann", "secret"), public=False) is None
        assert "no login (--public)" in check_exposure(host, None, public=True)
    assert parse_auth(None) is None and parse_auth("ann:s:cret") == ("ann", "s:cret")
    for typo in ("ann", "ann:", ":secret"):
        with pytest.raises(ConfigError, match="user:password"):
            parse_auth(typo)


@pytest.mark.slow
def test_serve_refuses_the_network_without_a_login(tmp_path):
    port = free_port()
    args = ("serve", "--port", port, "--llm", "extractive", "--index-dir", tmp_path / "index")
    # After the fix nothing binds: the refusal comes before the index or the app.
    out = rag(*args, "--host", "0.0.0.0", timeout=60)
    assert out.returncode == 2
    assert "RAG_AUTH" in out.stderr and "--public" in out.stderr
    out = rag(*args, "--host", "127.0.0.1", env={"RAG_AUTH": "admin"}, timeout=60)
    assert out.returncode == 2 and "user:password" in out.stderr
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing listens
    assert not (tmp_path / "index").exists()


@pytest.mark.slow
def test_the_served_app_refuses_an_oversized_upload_before_storing_it(tmp_path):
    import httpx

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--port", str(port), "--llm", "extractive"]
        + ["--index-dir", str(tmp_path / "index")],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if k != "RAG_AUTH"},
            "PYTHONPATH": str(ROOT),
            "GRADIO_ANALYTICS_ENABLED": "False",
            "RAG_MAX_UPLOAD_BYTES": "1000",
        },
        stdout=open(tmp_path / "server.log", "w"),  # a file: an unread pipe can fill and block
        stderr=subprocess.STDOUT,
        text=True,
        # Started as a script's background job is: with SIGINT ignored. Ctrl-C must still stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )

    def log() -> str:
        return (tmp_path / "server.log").read_text()

    try:
        wait_for(lambda: process.poll() is not None or port_open(port), 240, "the server")
        assert process.poll() is None, log()
        url = f"http://127.0.0.1:{port}/gradio_api/upload"
        big = httpx.post(url, files={"files": ("big.txt", b"a" * 5000)}, timeout=30)
        small = httpx.post(url, files={"files": ("small.txt", b"a" * 500)}, timeout=30)
        assert big.status_code == 413, big.text
        assert small.status_code == 200, small.text
        process.send_signal(signal.SIGINT)  # Ctrl-C stops the server
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running 120 s after Ctrl-C:\n{log()}") from None
    finally:
        stop(process)


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_uploads_are_limited_in_size_and_count_and_deduplicated(tmp_path, hashing_embedder):
    corpus = write_articles(tmp_path / "corpus")
    settings = Settings(
        index_dir=str(tmp_path / "index"),
        corpus_dir=str(corpus),
        max_upload_bytes=400,
        max_uploads=2,
    )
    ingest(settings, embedder=hashing_embedder)
    files = {
        "big.txt": "Un très long article sur Quimper. " * 20,  # 700 bytes
        "copy_of_brest.txt": ARTICLES["brest.txt"],  # the same text as a corpus article
        "one.txt": "Rennes inaugure une ligne de métro automatique.",
        "one_again.md": "Rennes inaugure une ligne de métro automatique.",  # same as one.txt
        "two.txt": "Vannes ouvre un port de plaisance agrandi.",
        "three.txt": "Lorient accueille le festival interceltique.",  # over the count
    }
    paths = []
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)

    added, refused = add_articles(settings, paths, hashing_embedder)

    assert added == ["one", "two"]
    reasons = {skip.path: skip.reason for skip in refused}
    assert "400 byte limit" in reasons["big.txt"]
    assert "same text is already in the index (as brest)" in reasons["copy_of_brest.txt"]
    assert "(as one)" in reasons["one_again.md"]
    assert "already holds 2 uploads" in reasons["three.txt"]
    assert sorted(p.name for p in (tmp_path / "index" / "uploads").iterdir()) == [
        "one.txt",
        "two.txt",
    ]
    # Another file of an uploaded name is a new upload (it never overwrites): it counts.
    (tmp_path / "one.txt").write_text("Rennes inaugure la ligne b du métro.", encoding="utf-8")
    added, refused = add_articles(settings, [tmp_path / "one.txt"], hashing_embedder)
    assert added == [] and "already holds 2 uploads" in refused[0].reason


# --- 4. article text is escaped wherever it is shown ------------------------------------------

HOSTILE = (
    "Le supercalculateur Kerguelen a été inauguré à Brest par la maire Anne Le Goff "
    "<img src=x onerror=alert(1)><style>body{{display:none}}</style> "
    "![pixel](http://127.0.0.1:{port}/pixel.png) **fort** [clic](javascript:alert(2))."
)


def test_chat_bubble_and_briefing_preview_escape_article_text():
    from rag.answering.answer import Answer, Source
    from rag.answering.briefing import render_markdown
    from ui.render import chat_message, sources_panel

    text = HOSTILE.format(port=9)
    source = Source(
        n=1,
        doc_id="d",
        title="<b>Titre</b>",
        date=None,
        url="javascript:alert(3)",
        chunk_id="d#0",
        text=text,
        start=0,
        end=9,
        score=0.9,
    )
    answer = Answer(
        question="Q ?",
        language="fr",
        text=text + " [1]",
        refused=False,
        sentences=[],
        sources=[source],
        model="extractive",
        notice="<i>n</i>",
    )
    for shown in (chat_message(answer, 1), render_markdown([answer], escape=True)):
        assert "<img" not in shown and "<style" not in shown and "<i>" not in shown
        assert "![" not in shown and "](javascript" not in shown and "**fort**" not in shown
    assert "[\\[1\\]](#cite-1-1)" in chat_message(answer, 1)  # our own citation link stays
    panel = sources_panel({1: answer}, {}, 1)
    assert "<img" not in panel and "href='javascript" not in panel and "<b>" not in panel


# --- 5. timeouts for a backend that never answers ---------------------------------------------


@contextmanager
def socket_server(handler=None, backlog: int = 16, accept: bool = True):
    """A TCP server on 127.0.0.1 whose connections `handler(conn, stopped)` serves in threads;
    without a handler it accepts and never answers. Stops itself on exit."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(backlog)
    server.settimeout(0.2)
    stopped = threading.Event()
    connections: list[socket.socket] = []

    def serve():
        while not stopped.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            connections.append(conn)
            if handler:
                threading.Thread(target=handler, args=(conn, stopped), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    if accept:
        thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stopped.set()
        if accept:
            thread.join(timeout=5)
        for conn in connections:
            conn.close()
        server.close()


def keep_alive_only(conn: socket.socket, stopped: threading.Event) -> None:
    """Answers 200 and an event stream that never holds a word (keep-alives, a role delta)."""
    conn.settimeout(5)
    try:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
        conn.sendall(b'data: {"choices": [{"delta": {"role": "assistant"}}]}\n\n')
        for _ in range(600):  # bounded: two minutes at most
            if stopped.is_set():
                return
            conn.sendall(b": keep-alive\n\n")
            time.sleep(0.2)
    except OSError:
        return


def first_token_seconds(llm: OpenAICompatibleLLM) -> tuple[float, str]:
    started = time.monotonic()
    with pytest.raises(LLMError) as error:
        list(llm.stream([{"role": "user", "content": "Bonjour ?"}], None))
    return time.monotonic() - started, str(error.value)


def test_a_backend_that_accepts_and_never_answers_times_out_on_the_first_token():
    with socket_server() as port:
        llm = OpenAICompatibleLLM(
            "openai:x", f"http://127.0.0.1:{port}/v1", "m", first_token_timeout=1.5
        )
        seconds, message = first_token_seconds(llm)
    assert 1.0 <= seconds < 6, seconds
    assert message == f"no first token from http://127.0.0.1:{port}/v1 within 1.5 s"


def test_a_backend_that_only_sends_keep_alives_times_out_on_the_first_token():
    with socket_server(keep_alive_only) as port:
        llm = OpenAICompatibleLLM(
            "openai:x", f"http://127.0.0.1:{port}/v1", "m", first_token_timeout=1.5
        )
        seconds, message = first_token_seconds(llm)
    assert 1.0 <= seconds < 6, seconds
    assert "no first token" in message


def test_a_backend_that_cannot_take_the_connection_times_out_on_connect():
    # A listening socket that never accepts, its backlog filled: the kernel drops new SYNs,
    # so a connect hangs as it does to a host that has gone away.
    with socket_server(backlog=0, accept=False) as port:
        fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.3)
        try:
            llm = OpenAICompatibleLLM(
                "openai:x", f"http://127.0.0.1:{port}/v1", "m", connect_timeout=1
            )
            seconds, message = first_token_seconds(llm)
        finally:
            for filler in fillers:
                filler.close()
    assert seconds < 6, seconds
    assert "no connection within 1 s" in message and message.startswith("Cannot reach")


def test_timeouts_are_settings_with_sane_defaults():
    settings = Settings.load(
        environ={"RAG_FIRST_TOKEN_TIMEOUT": "7.5", "RAG_CONNECT_TIMEOUT": "2"}, toml_path="-"
    )
    assert (settings.first_token_timeout, settings.connect_timeout) == (7.5, 2.0)
    assert Settings().first_token_timeout == 20.0 and Settings().connect_timeout <= 5
    with pytest.raises(ConfigError):
        Settings(first_token_timeout=0)


@pytest.mark.slow
def test_ask_falls_back_within_the_first_token_limit(tmp_path):
    corpus = write_articles(tmp_path / "corpus")
    index_dir = tmp_path / "index"
    rag("ingest", corpus, "--index-dir", index_dir, check=True)
    with socket_server() as port:
        started = time.monotonic()
        out = rag(
            "ask",
            "Comment s'appelle le supercalculateur inauguré à Brest ?",
            "--json",
            "--llm",
            f"openai:http://127.0.0.1:{port}/v1#never",
            "--index-dir",
            index_dir,
            env={"RAG_FIRST_TOKEN_TIMEOUT": "2"},
            timeout=90,  # before the fix: 120 s of waiting
        )
        seconds = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert "never" in record["notice"]  # the backend; why it failed goes to the log
    assert "no first token" in out.stderr and "within 2 s" in out.stderr
    assert record["sources"] and "Kerguelen" in record["text"]
    assert seconds < 60, seconds


# --- 6. one ingest at a time per index --------------------------------------------------------


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:  # bounded
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


@pytest.mark.slow
def test_a_second_ingest_waits_for_the_first_and_survives_its_kill(tmp_path):
    corpus = write_articles(tmp_path / "corpus", count=120)
    index_dir = tmp_path / "index"
    lock = index_dir / ".ingest.lock"
    command = [sys.executable, "-m", "rag", "ingest", str(corpus), "--index-dir", str(index_dir)]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(name: str) -> subprocess.Popen:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=open(tmp_path / f"{name}.out", "w"),
            stderr=open(tmp_path / f"{name}.err", "w"),
        )

    first = start("first")
    try:
        wait_for(lambda: lock.is_file() and f"pid {first.pid}" in lock.read_text(), 120, "lock")
        second = start("second")
        try:
            wait_for(
                lambda: "Another ingest is running" in (tmp_path / "second.err").read_text(),
                60,
                "the second ingest to say it waits",
            )
            assert f"pid {first.pid}" in (tmp_path / "second.err").read_text()
            assert first.poll() is None, "the first ingest ended too soon for this test"
            first.send_signal(signal.SIGKILL)  # the lock dies with its holder
            first.wait(timeout=30)
            assert second.wait(timeout=600) == 0, (tmp_path / "second.err").read_text()
        finally:
            stop(second)
    finally:
        stop(first)
    assert "120 added" in (tmp_path / "second.out").read_text()
    assert len(load_index(index_dir).documents) == 120

    # Two at once again: the one that waited finds nothing left to embed.
    (corpus / "depeche_000.txt").write_text(ARTICLES["lyon.txt"] + " Nouveau.", "utf-8")
    third, fourth = start("third"), None
    try:
        wait_for(lambda: f"pid {third.pid}" in lock.read_text(), 120, "the third's lock")
        fourth = start("fourth")
        assert third.wait(timeout=600) == 0 and fourth.wait(timeout=600) == 0
    finally:
        stop(third)
        if fourth:
            stop(fourth)
    assert "1 changed" in (tmp_path / "third.out").read_text()
    assert "embedded 0 of" in (tmp_path / "fourth.out").read_text()
    assert "Another ingest is running" in (tmp_path / "fourth.err").read_text()


# --- 7. progress on a terminal ----------------------------------------------------------------


@pytest.mark.slow
def test_ingest_shows_articles_per_second_and_an_eta_on_a_terminal(tmp_path):
    corpus = write_articles(tmp_path / "corpus", count=30)
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "rag", "ingest", str(corpus), "--index-dir", str(tmp_path / "i")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    shown = b""
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # bounded: read the terminal until the process ends
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    shown += os.read(primary, 65536)
                except OSError:  # the terminal closed with the process
                    break
            elif process.poll() is not None:
                break
        assert process.wait(timeout=60) == 0
    finally:
        os.close(primary)
        stop(process)
    terminal = shown.decode("utf-8", "replace")
    for stage in ("reading", "embedding"):
        bars = [line for line in terminal.replace("\r", "\n").splitlines() if stage in line]
        assert any("30/30 articles" in b and "articles/s" in b and "ETA" in b for b in bars), (
            stage,
            bars[-3:],
        )
    # Without a terminal there is no bar, only the summary.
    out = rag("ingest", corpus, "--index-dir", tmp_path / "i", check=True)
    assert "articles/s" not in out.stderr and "30 unchanged" in out.stdout


# --- 8. the browser: a hostile article is shown as text ---------------------------------------


@pytest.mark.slow
def test_a_hostile_article_is_shown_as_text_in_the_browser(tmp_path):
    from playwright import sync_api

    from rag.backends.llms import get_llm
    from rag.service import Service
    from tests.test_browser import CHROMIUM, ask, open_page
    from ui.app import build_app, launch

    requests: list[bytes] = []

    def record(conn, stopped):  # the "third-party image" server: counts every request
        conn.settimeout(2)
        try:
            requests.append(conn.recv(4096))
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass

    with socket_server(record) as pixel_port:
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        (corpus / "kerguelen.txt").write_text(
            "Kerguelen, un supercalculateur à Brest\n\n" + HOSTILE.format(port=pixel_port),
            encoding="utf-8",
        )
        write_articles(corpus)
        settings = Settings(index_dir=str(tmp_path / "index"), corpus_dir=str(corpus))
        service = Service.open(settings, llm=get_llm("extractive", settings))
        app = build_app(service)
        port = free_port()
        launch(app, "127.0.0.1", port, block=False)
        try:
            with sync_api.sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
                )
                page = open_page(browser, f"http://127.0.0.1:{port}", "fr-FR")
                dialogs = []
                page.on("dialog", lambda dialog: (dialogs.append(dialog), dialog.dismiss()))
                answer = ask(page, "Qui a inauguré le supercalculateur Kerguelen à Brest ?")[-1]
                bubble = page.locator("#chat .bot-row .message-content").last
                assert "Anne Le Goff" in answer
                assert "<img src=x onerror=alert(1)>" in answer  # shown as text
                assert "![pixel]" in answer and "**fort**" in answer
                assert bubble.locator("img, style, a[href^='javascript']").count() == 0
                page.locator("#chat a[href*='#cite-']").first.click()
                card = page.locator(".source-card.active")
                card.wait_for()
                assert "<img src=x" in card.inner_text()
                assert card.locator("img, style").count() == 0
                page.click("#tab-briefing-button")
                page.click("#add-last")
                page.wait_for_function(
                    "() => document.querySelector('#briefing-preview').innerText"
                    ".includes('Anne Le Goff')"
                )
                preview = page.locator("#briefing-preview")
                assert "<img src=x" in preview.inner_text()
                assert preview.locator("img, style, a[href^='javascript']").count() == 0
                assert page.locator("body").is_visible()  # the article's <style> hid nothing
                assert dialogs == []
                browser.close()
        finally:
            app.close()
        assert requests == [], "the article made the browser load a third-party image"
    shutil.rmtree(tmp_path / "index", ignore_errors=True)
