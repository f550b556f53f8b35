"""Issue 24, the ingest half: nothing altered, nothing unbounded, clear errors when the disk fills.

One test (or more) per finding: real sentences that look like share or "click here" lines
(finding 2), correct UTF-8 that looks like mojibake (3), documents that expand without bound
(4), a full disk while the new index is written (6).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import docx
import pytest

from rag.config import DEFAULT_MAX_UNZIPPED_BYTES, DEFAULT_MAX_UPLOAD_BYTES, Settings
from rag.errors import ConfigError, CorpusError, IndexStoreError
from rag.index import engine, store
from rag.index.engine import ingest
from rag.index.store import load_index
from rag.ingest.corpus import (
    Limits,
    load_document,
    load_text,
    repair_mojibake,
    strip_boilerplate,
)
from tests.conftest import ROOT, HashingEmbedder, expansion_bomb_docx, tiny_pdf

# --- finding 2: boilerplate -------------------------------------------------------------------

REAL_SENTENCES = [
    "Share prices fell sharply in Paris after the announcement, with the CAC 40 losing 2.3 %.",
    "Partager les risques entre États membres reste la priorité de la Banque centrale européenne.",
    "Partager un billet entre amis sera désormais interdit.",
    "Share the burden, say Italy and Spain.",
    "Partager sur les réseaux sociaux une capture d’écran de son billet expose à une annulation.",
    "Click here, it said, and pay a £1.45 redelivery fee: those who did lost their savings.",
    "« Cliquez ici pour suivre votre colis », disait le message reçu par 40 000 personnes.",
    "Lire aussi les annexes du budget permet de découvrir des mesures absentes du discours.",
    "Read more carefully, the AI Act leaves most of the work to national authorities.",
]
BOILERPLATE = [
    "Partager",
    "Partager :",
    "Share on Facebook",
    "Share this article",
    "Partager sur Facebook Partager sur X Partager par e-mail",
    "Share on Twitter | Share on LinkedIn",
    "Lire aussi : La BCE relève ses taux pour la dixième fois",
    "Lire aussi | Article réservé à nos abonnés Les dessous du budget",
    "À lire aussi : Le Kenya à l’avant-garde de la gouvernance de l’IA",
    "Read also: Wind and solar overtake gas",
    "Cliquez ici pour vous abonner à notre newsletter",
    "Click here to subscribe",
    "Tweeter",
    "Imprimer",
    "Lire la suite",
    "Read more",
    "Redirection en cours...",
    "Si vous n'êtes pas redirigé automatiquement, 👉 cliquez ici 👈",
]


@pytest.mark.parametrize("sentence", REAL_SENTENCES)
def test_a_real_sentence_that_opens_like_a_share_line_survives(sentence):
    text = f"Titre de l’article\n\n{sentence}\nUne autre phrase de l’article, assez longue."
    assert sentence in strip_boilerplate(text)
    assert sentence in load_text(text, "article").text


@pytest.mark.parametrize("line", BOILERPLATE)
def test_a_whole_short_boilerplate_line_goes(line):
    text = f"Titre de l’article\n\nPremière phrase de l’article.\n{line}\nDernière phrase."
    assert strip_boilerplate(text) == (
        "Titre de l’article\n\nPremière phrase de l’article.\nDernière phrase."
    )


def test_a_click_here_line_with_a_sentence_after_it_stays():
    line = "Cliquez ici pour vous inscrire. La liste ferme vendredi à midi."
    assert line in strip_boilerplate(f"Titre\n\n{line}\nFin.")


# --- finding 3: encoding repair ----------------------------------------------------------------

CORRECT_UTF8 = [
    "« CAFÉ»",
    "CÔTÉ–EST",
    "ICI, ON A TOUJOURS ÉTÉ…»",
    "« AU CAFÉ’ comme disait mon père »",
    "CAFÉ–TABAC–PMU",
    "DÉCRÉTÉ”",
    "Ștefan Ionescu, de Iași ; Agnieszka Wójcik, de Łódź ; Jiří Dvořák ; Şanlıurfa",
    "ÄRGER“ und MÜLLER”",
    "Република Молдовеняскэ Нистрянэ",
]


@pytest.mark.parametrize("text", CORRECT_UTF8)
def test_correct_utf8_is_left_as_it_is(text):
    assert repair_mojibake(text) == text
    assert load_text(f"Titre\n\n{text}", "article").text == f"Titre\n\n{text}"


def test_only_the_damaged_runs_are_repaired():
    text = "La coopĂ©ration du « CAFÉ» et du quartier CÔTÉ–EST est prĂȘte Ă\u00a0 dĂ©marrer. đŸ€–"
    assert repair_mojibake(text) == (
        "La coopération du « CAFÉ» et du quartier CÔTÉ–EST est prête à démarrer. 🤖"
    )


def test_a_title_that_opens_with_a_season_is_not_taken_for_a_date():
    document = load_text("2019-20: the season that never ended\n\nLiverpool won.", "season")
    assert document.text.startswith("2019-20: the season") and document.date is None
    assert load_text(" date 2024-07 Le Premier ministre a parlé.", "a").date == "2024-07"
    assert load_text("2025-03-20 09:01:00\nUne avance.", "b").text == "Une avance."


# --- finding 4: bounded documents --------------------------------------------------------------

# Loads one document in a fresh process and reports its refusal, time and memory growth.
MEASURE = """
import json, resource, sys, time
from rag.errors import CorpusError
from rag.ingest.corpus import load_document
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    load_document(sys.argv[1])
    reason = None
except CorpusError as exc:
    reason = str(exc)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"reason": reason, "seconds": time.perf_counter() - started,
                  "grown_mb": grown / 1024}))
"""


def load_in_a_fresh_process(path: Path) -> dict:
    """What `load_document(path)` did in a process of its own: its memory is its own."""
    try:
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, str(path)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} was still being read after 120 s")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """The two .docx of the issue: 84 kB that hold 18.6 million characters of text, and
    1.66 MB that hold 400 MB of XML (built here: 1.2 MB)."""
    folder = tmp_path_factory.mktemp("bombs")
    sentence = "Le gouvernement a présenté son budget pour l’année prochaine. " * 4
    return {
        "text": expansion_bomb_docx(folder / "text.docx", 24_000_000, sentence),
        "xml": expansion_bomb_docx(folder / "xml.docx", 400_000_000),
    }


@pytest.mark.parametrize("kind", ["text", "xml"])
def test_a_docx_expansion_bomb_is_refused_before_it_is_unpacked(bombs, kind):
    assert bombs[kind].stat().st_size < DEFAULT_MAX_UPLOAD_BYTES  # both pass the upload limit
    measured = load_in_a_fresh_process(bombs[kind])
    print(f"{kind} bomb ({bombs[kind].stat().st_size:,} bytes): {measured}")
    assert "expansion bomb" in measured["reason"]
    assert measured["grown_mb"] < 200  # unbounded: 1.8 GB and counting after 180 s


def test_a_zip_that_unpacks_past_the_limit_is_refused_by_its_directory(tmp_path):
    word = docx.Document()  # python-docx's template unpacks to 0.9 MB, styles mostly
    word.add_paragraph("La Zambie et la Chine signent un accord sur le cuivre.")
    word.save(tmp_path / "accord.docx")
    with pytest.raises(CorpusError, match="would unpack to .* over the 500,000 byte limit"):
        load_document(tmp_path / "accord.docx", limits=Limits(max_unzipped_bytes=500_000))
    assert load_document(tmp_path / "accord.docx").text.startswith("La Zambie")


def test_a_document_is_refused_once_its_text_passes_the_limit(tmp_path):
    word = docx.Document()
    for number in range(50):
        word.add_paragraph(f"Paragraphe {number} de la dépêche sur la Zambie et la Chine.")
    word.save(tmp_path / "long.docx")
    (tmp_path / "long.txt").write_text("Une phrase de la dépêche. " * 100, encoding="utf-8")
    (tmp_path / "long.pdf").write_bytes(tiny_pdf([["Une ligne de la dépêche."] * 40], "Long"))
    limits = Limits(max_document_chars=500)
    for name in ("long.docx", "long.txt", "long.pdf"):
        with pytest.raises(CorpusError, match="more than 500 characters"):
            load_document(tmp_path / name, limits=limits)
        assert load_document(tmp_path / name).text  # under the default limit


def test_a_pdf_with_too_many_pages_is_refused_before_its_pages_are_read(tmp_path):
    (tmp_path / "pages.pdf").write_bytes(tiny_pdf([["Page."]] * 5, "Cinq pages"))
    with pytest.raises(CorpusError, match="5 pages, over the 4 page limit"):
        load_document(tmp_path / "pages.pdf", limits=Limits(max_pdf_pages=4))


def test_the_limits_are_settings():
    settings = Settings.from_mapping({"max_document_chars": "1000", "max_pdf_pages": 3})
    assert Limits.of(settings) == Limits(1000, DEFAULT_MAX_UNZIPPED_BYTES, 3)
    with pytest.raises(ConfigError, match="max_unzipped_bytes"):
        Settings(max_unzipped_bytes=0)


def test_refusals_are_in_the_ingest_report_and_the_upload_status(bombs, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "lusaka.txt").write_text(
        "La Zambie et la Chine signent un accord\n\nÀ Lusaka, un accord sur le cuivre.", "utf-8"
    )
    shutil.copy(bombs["xml"], corpus / "bombe.docx")
    settings = Settings(index_dir=str(tmp_path / "index"))
    embedder = HashingEmbedder()
    report, loaded = ingest(settings, corpus, embedder=embedder)
    assert report.added == ["lusaka"]
    assert [(Path(s.path).name, "expansion bomb" in s.reason) for s in loaded.skipped] == [
        ("bombe.docx", True)
    ]
    # The browser's upload: the refusal and its reason are shown.
    from rag.backends.llms import get_llm
    from rag.service import Service
    from ui import handlers

    service = Service.open(settings, llm=get_llm("extractive"), embedder=embedder)
    status, _ = handlers.upload(service, [str(bombs["text"])])
    assert status.startswith("❌ text\\.docx") and "expansion bomb" in status
    assert not (Path(settings.index_dir) / "uploads" / "text.docx").exists()


# --- finding 6: a full disk while the new index is written --------------------------------------

ARTICLES = {
    "brest.txt": "Brest inaugure le supercalculateur Kerguelen\n\nLa ville de Brest a inauguré "
    "le 11 mars 2025 un supercalculateur baptisé Kerguelen, consacré à l'océanographie.",
    "lusaka.txt": "La Zambie et la Chine signent un accord\n\nÀ Lusaka, la Zambie et la Chine "
    "ont signé un accord sur l'intelligence artificielle et le cuivre en décembre 2024.",
}
NEW_ARTICLE = (
    "Lyon ouvre une école de robotique\n\nUne école de robotique a ouvert ses portes à Lyon "
    "en septembre 2024 ; elle accueille trois cents élèves."
)


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def live_index(tmp_path):
    """An index of two articles, and a third article added to the folder since."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in ARTICLES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    settings = Settings(index_dir=str(tmp_path / "index"))
    ingest(settings, corpus, embedder=HashingEmbedder())
    (corpus / "lyon.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    return settings, corpus


def assert_the_old_index_answers(index_dir: Path, generation: str) -> None:
    """Only the old generation is there, nothing half-written beside it, and it answers."""
    from rag.answering.retrieval import Retriever

    left = sorted(p.name for p in index_dir.iterdir() if p.name.startswith(("gen-", ".tmp-")))
    assert left == [generation]
    assert not list(index_dir.glob(".CURRENT.*")) and not list(index_dir.glob(".sources.json.*"))
    index = load_index(index_dir)
    assert index.directory.name == generation and set(index.documents) == {"brest", "lusaka"}
    hits = Retriever(index, HashingEmbedder()).search("supercalculateur Kerguelen à Brest")
    assert hits[0].chunk.doc_id == "brest"


def test_a_full_disk_while_writing_gives_one_clear_line_and_keeps_the_old_index(
    live_index, monkeypatch
):
    settings, corpus = live_index
    index_dir = Path(settings.index_dir)
    generation = load_index(index_dir).directory.name
    monkeypatch.setattr(store, "_write_bm25", disk_full)  # after the vectors are written
    with pytest.raises(IndexStoreError) as caught:
        ingest(settings, corpus, embedder=HashingEmbedder())
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        f"No space left on device while writing bm25/ of the new index in {index_dir}/ (about "
    )
    assert re.search(r"about [\d.,]+ MB needed, [\d.,]+ MB free\)", message)
    assert "the index in use still answers" in message
    assert_the_old_index_answers(index_dir, generation)


def test_an_ingest_the_free_space_cannot_hold_is_refused_before_embedding(live_index, monkeypatch):
    settings, corpus = live_index
    generation = load_index(settings.index_dir).directory.name
    monkeypatch.setattr(store, "free_bytes", lambda folder: 20_000)
    embedder = HashingEmbedder()
    with pytest.raises(IndexStoreError, match=r"about [\d.]+ MB needed, 0\.0 MB free"):
        ingest(settings, corpus, embedder=embedder)
    assert embedder.embedded == 0  # refused before any embedding
    assert_the_old_index_answers(Path(settings.index_dir), generation)


def test_the_space_estimate_covers_what_an_ingest_writes(live_index):
    settings, corpus = live_index
    before = shutil.disk_usage(settings.index_dir).free
    report, loaded = ingest(settings, corpus, embedder=HashingEmbedder(), rebuild=True)
    index = load_index(settings.index_dir)
    written = sum(p.stat().st_size for p in index.directory.rglob("*") if p.is_file())
    parts = [store._DocumentPart.fresh(d, 256, 48) for d in loaded.documents]
    texts = sum(len(p.chunks) + len(p.sentences) for p in parts)
    estimate = store.space_needed(parts, loaded.documents, HashingEmbedder.dimension, texts)
    assert written < estimate < 20 * written, (written, estimate, before)


CLI_WITH_A_FULL_DISK = """
import errno, os, sys
import rag.index.engine as engine
import rag.index.store as store
from rag.cli import main
from tests.conftest import HashingEmbedder

def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

store._write_bm25 = disk_full
engine.get_embedder = lambda spec: HashingEmbedder()
sys.exit(main(sys.argv[1:]))
"""


def test_rag_ingest_on_a_full_disk_exits_with_one_line(live_index):
    settings, corpus = live_index
    generation = load_index(settings.index_dir).directory.name
    result = subprocess.run(
        [sys.executable, "-c", CLI_WITH_A_FULL_DISK, "ingest", str(corpus)]
        + ["--index-dir", settings.index_dir],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: No space left on device while writing")
    assert_the_old_index_answers(Path(settings.index_dir), generation)


def test_a_full_disk_while_saving_an_upload_leaves_no_partial_file(
    live_index, tmp_path, monkeypatch
):
    settings, _ = live_index
    generation = load_index(settings.index_dir).directory.name
    upload = tmp_path / "ecole.txt"
    upload.write_text(NEW_ARTICLE.replace("Lyon", "Nantes"), encoding="utf-8")

    def half_copy(source, destination):
        Path(destination).write_bytes(Path(source).read_bytes()[:40])
        disk_full()

    monkeypatch.setattr(engine.shutil, "copyfile", half_copy)
    with pytest.raises(IndexStoreError, match="No space left on device while saving the upload"):
        engine.add_articles(settings, [upload], HashingEmbedder())
    assert list((Path(settings.index_dir) / "uploads").iterdir()) == []
    assert_the_old_index_answers(Path(settings.index_dir), generation)
