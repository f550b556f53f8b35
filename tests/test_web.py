"""Web pages and feeds, fetched from a real HTTP server on 127.0.0.1 serving saved pages."""

import json
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rag.config import Settings
from rag.errors import ConfigError, CorpusError
from rag.index.engine import ingest, load_articles, open_index
from rag.index.store import read_sources
from rag.ingest.web import (
    USER_AGENT,
    FetchError,
    WebStore,
    decode_page,
    doc_id_for,
    fetch,
    read_url_list,
)
from tests.conftest import ROOT
from tests.test_cli import rag

PAGES = ROOT / "tests" / "data" / "web"


class Site(ThreadingHTTPServer):
    """The saved pages; `/feed` serves `feed_file`; {{BASE}} becomes the server's address."""

    feed_file = "feed.xml"
    user_agents: list[str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(PAGES), **kwargs)

    def do_GET(self):
        self.server.user_agents.append(self.headers.get("User-Agent"))
        if self.path == "/to-ftp":
            self.send_response(302)
            self.send_header("Location", "ftp://127.0.0.1/article.html")
            self.end_headers()
            return
        name = self.server.feed_file if self.path == "/feed" else self.path.lstrip("/")
        path = PAGES / name
        if "/" in name or not path.is_file():
            self.send_error(404)
            return
        body = path.read_text(encoding="utf-8").replace("{{BASE}}", self.server.base).encode()
        kind = "application/rss+xml" if path.suffix == ".xml" else "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = Site(("127.0.0.1", 0), Handler)
    server.user_agents = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def url_list(site, folder: Path) -> Path:
    path = folder / "urls.txt"
    path.write_text((PAGES / "urls.txt").read_text().replace("{{BASE}}", site.base), "utf-8")
    return path


def test_url_list_rule(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(
        "# news\n\nhttps://a.example/1\n  http://b.example/x?y=1  \nhttps://a.example/1\n"
    )
    assert read_url_list(good) == ["https://a.example/1", "http://b.example/x?y=1"]
    bad = tmp_path / "bad.txt"
    bad.write_text("https://a.example/1\nseeds/000.txt\n")
    with pytest.raises(ConfigError, match="line 2"):
        read_url_list(bad)
    with pytest.raises(ConfigError, match="give the folder"):
        read_url_list(tmp_path / "report.pdf")
    assert doc_id_for("https://www.lemonde.fr/idees/article/2024/la-chine-et-l-ia.html").startswith(
        "www-lemonde-fr-la-chine-et-l-ia-"
    )


def test_url_list_pages_are_saved_and_bad_ones_skipped(site, tmp_path, hashing_embedder):
    settings = Settings(index_dir=str(tmp_path / "index"))
    urls = read_url_list(url_list(site, tmp_path))

    report, loaded = ingest(settings, urls=urls, embedder=hashing_embedder)

    zambie, plan = f"{site.base}/zambie.html", f"{site.base}/plan-onu.html"
    assert len(report.added) == 2 and len(loaded.documents) == 2  # not the seeds: web only
    by_url = {d.url: d for d in loaded.documents}
    assert set(by_url) == {zambie, plan}
    assert by_url[zambie].title == "La Chine s'associe à la Zambie pour l'IA open-source"
    assert by_url[zambie].date == "2024-12-20" and "Zambie" in by_url[zambie].text
    assert "Accueil" not in by_url[zambie].text and "mentions légales" not in by_url[zambie].text
    reasons = {s.path: s.reason for s in loaded.skipped}
    assert set(reasons) == {f"{site.base}/introuvable.html", f"{site.base}/menu.html"}
    assert "HTTP 404" in reasons[f"{site.base}/introuvable.html"]
    assert "no article" in reasons[f"{site.base}/menu.html"]
    assert set(site.user_agents) == {USER_AGENT}
    store = WebStore(settings.index_dir)
    assert store.urls() == sorted([zambie, plan])
    record = next(r for r in store.records.values() if r["url"] == zambie)
    assert record["author"] == "Claire Martin" and record["site"] == "Le Quotidien Tech"
    sources = read_sources(settings.index_dir)
    assert sources.folders == [] and sources.web == sorted([zambie, plan])

    # Again: saved pages are not fetched again; the two bad ones are tried (and skipped) again.
    site.user_agents.clear()
    embedded = hashing_embedder.embedded
    report, loaded = ingest(settings, urls=urls, embedder=hashing_embedder)
    assert report.added == [] and hashing_embedder.embedded == embedded
    assert len(site.user_agents) == 2 and len(loaded.skipped) == 2

    # The index is rebuilt from the saved pages, without the network.
    site.shutdown()
    report, loaded = ingest(settings, rebuild=True, embedder=hashing_embedder)
    assert sorted(d.url for d in loaded.documents) == sorted([zambie, plan])
    assert report.embedded_chunks > 0 and loaded.skipped == []
    # A damaged index is repaired from them too (the index records no folder, only pages).
    shutil.rmtree(tmp_path / "index" / (tmp_path / "index" / "CURRENT").read_text())
    index = open_index(settings, hashing_embedder, notify=lambda message: None)
    assert sorted(d.url for d in index.documents.values()) == sorted([zambie, plan])


def test_feed_adds_only_new_items(site, tmp_path, hashing_embedder):
    settings = Settings(index_dir=str(tmp_path / "index"))
    feed = f"{site.base}/feed"

    report, loaded = ingest(settings, feeds=[feed], embedder=hashing_embedder)

    assert len(report.added) == 3 and loaded.skipped == []
    by_title = {d.title: d for d in loaded.documents}
    kerguelen = by_title["Kerguelen, le supercalculateur breton, entre en service"]
    # Its page is gone (404): the feed's own text of the item was kept, with the item's link.
    assert "douze pétaflops" in kerguelen.text and kerguelen.date == "2025-06-03"
    assert kerguelen.url == f"{site.base}/retire/kerguelen.html"
    state = json.loads((tmp_path / "index" / "feeds.json").read_text())
    assert sorted(state[feed]["seen"]) == ["qt-ia-0001", "qt-ia-0002", "qt-ia-0003"]
    generation = (tmp_path / "index" / "CURRENT").read_text()

    # Second run: the feed is downloaded, nothing is new, nothing is embedded or rewritten.
    site.user_agents.clear()
    embedded = hashing_embedder.embedded
    report, loaded = ingest(settings, feeds=[feed], embedder=hashing_embedder)
    assert report.added == [] and report.embedded_chunks == 0 and len(site.user_agents) == 1
    assert hashing_embedder.embedded == embedded
    assert (tmp_path / "index" / "CURRENT").read_text() == generation

    # The feed gains one item (and turns Atom): exactly that one is added.
    site.feed_file = "feed-updated.xml"
    report, loaded = ingest(settings, feeds=[feed], embedder=hashing_embedder)
    assert report.added == [doc_id_for(f"{site.base}/avance.html")]
    assert len(report.unchanged) == 3 and len(loaded.documents) == 4
    assert read_sources(settings.index_dir).feeds == [feed]
    assert len(load_articles(settings).documents) == 4


def test_cli_ingests_a_url_list_and_cites_the_page_url(site, tmp_path):
    index_dir = tmp_path / "index"
    out = rag("ingest", url_list(site, tmp_path), index_dir=index_dir)
    assert "2 documents" in out.stdout and "2 added" in out.stdout
    assert "2 file(s) skipped" in out.stderr and "HTTP 404" in out.stderr
    question = "Avec quel pays africain la Chine s'est-elle associée ?"
    out = rag("ask", question, "--json", "--llm", "extractive", index_dir=index_dir)
    answer = json.loads(out.stdout)
    assert answer["sources"][0]["url"] == f"{site.base}/zambie.html"
    assert answer["sources"][0]["page"] is None


def test_nothing_fetched_writes_no_index(site, tmp_path, hashing_embedder):
    settings = Settings(index_dir=str(tmp_path / "index"))
    with pytest.raises(CorpusError, match="HTTP 404"):
        ingest(settings, feeds=[f"{site.base}/gone.xml"], embedder=hashing_embedder)
    assert not (tmp_path / "index" / "CURRENT").exists()


def test_fetch_limits(site):
    assert b"Zambie" in fetch(f"{site.base}/zambie.html")
    with pytest.raises(FetchError, match="not an http"):
        fetch(f"{site.base}/to-ftp")
    with pytest.raises(FetchError, match="limit"):
        fetch(f"{site.base}/zambie.html", max_bytes=1000)
    with pytest.raises(FetchError, match="only http"):
        fetch("file:///etc/passwd")


def test_page_charsets():
    latin9 = '<meta charset="iso-8859-15"><p>Le coût : 5 €.</p>'
    assert decode_page(latin9.encode("iso-8859-15"), "u") == latin9
    russian = "<meta charset='koi8-r'><p>Привет</p>"
    assert decode_page(russian.encode("koi8-r"), "u") == russian
    assert decode_page("<p>L’été</p>".encode("cp1252"), "u") == "<p>L’été</p>"  # no charset
    with pytest.raises(CorpusError, match="binary"):
        decode_page(b"charset=latin-1\x00\x01\xff", "u")
