import pytest

from rag.errors import CorpusError
from rag.ingest.corpus import load_corpus, load_text, repair_mojibake
from tests.conftest import SEEDS

MOJIBAKE_MARKS = ("Ă©", "Ă ", "Ăš", "ĂȘ", "Ă", "Ș", "Ț", "ș", "ț", "đ", "Ÿ")


@pytest.fixture(scope="module")
def documents():
    result = load_corpus(SEEDS)
    assert result.skipped == []
    return {d.doc_id[:3]: d for d in result.documents}


def test_seed_004_is_repaired(documents):
    text = documents["004"].text
    for mark in MOJIBAKE_MARKS:
        assert mark not in text, mark
    for word in ("coopération", "prête", "intérêts", " à ", "modèles", "🤖", "Récapitulatif"):
        assert word in text, word


def test_clean_seeds_are_unchanged_by_the_repair():
    for path in sorted(SEEDS.glob("00[0-3]_*.txt")):
        raw = path.read_text(encoding="utf-8")
        assert repair_mojibake(raw) == raw, path.name


def test_boilerplate_is_removed(documents):
    assert "Redirection en cours" not in documents["004"].text
    assert "cliquez ici" not in documents["004"].text
    text = documents["001"].text
    assert "Kenya à l’avant-garde" not in text and "\nArticles\n" not in text
    assert "Ce concours évolutif révèle" in text


def test_metadata(documents):
    assert documents["000"].date == "2024-12-20"
    assert documents["002"].date == "2024-07"
    assert documents["003"].date == "2025-03-20"
    assert documents["004"].url == "https://www.reddit.com/gallery/1m9qyzh"
    assert (
        documents["001"].title
        == "La Chine et l’avenir de la gouvernance de l’IA : l’approche open-source"
    )
    assert documents["003"].title == "Une Avance Stratégique dans le Domaine de l’IA"
    assert documents["004"].title.startswith("La Chine appelle à une coopération mondiale")
    assert not documents["002"].text.startswith(" date")
    assert not documents["003"].text.startswith("2025")
    for doc in documents.values():
        assert doc.language == "fr" and doc.title and len(doc.content_hash) == 64


def test_bad_files_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "good.txt").write_text("Un article correct sur la coopération en IA.", "utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02PNG" * 50)
    (tmp_path / "empty.md").write_text("  \n\n ", "utf-8")
    (tmp_path / "huge.txt").write_text("mot " * 5000, "utf-8")
    (tmp_path / "invalid.txt").write_bytes(b"caf\xe9 \x81\x8d\x8f\x90 texte")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    result = load_corpus(tmp_path, max_bytes=10_000)
    assert [d.doc_id for d in result.documents] == ["good"]
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in result.skipped}
    assert set(reasons) == {"binary.txt", "empty.md", "huge.txt", "invalid.txt", "ignored.pdf"}
    assert "not a readable PDF" in reasons["ignored.pdf"]
    assert "binary" in reasons["binary.txt"] and "limit" in reasons["huge.txt"]
    assert "no article text" in reasons["empty.md"] and "UTF-8" in reasons["invalid.txt"]


def test_windows_1252_file_is_read(tmp_path):
    (tmp_path / "legacy.txt").write_bytes("L’été à Pékin, coopération.".encode("cp1252"))
    assert load_corpus(tmp_path).documents[0].text == "L’été à Pékin, coopération."


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_html_main_text_and_metadata():
    page = """<html><head><title>Pékin ouvre ses modèles</title>
    <script>var tracking = "cliquez ici";</script></head><body>
    <nav>Accueil | Monde | Partager</nav>
    <article><h1>Pékin ouvre ses modèles</h1>
    <p>Le gouvernement chinois a annoncé mardi la publication de plusieurs modèles de langue
    en open source, une décision saluée par les chercheurs de nombreux pays.</p>
    <p>Cette annonce intervient alors que la concurrence avec les États-Unis s'intensifie
    dans le domaine de l'intelligence artificielle et des semi-conducteurs.</p></article>
    <footer>© Journal</footer></body></html>"""
    doc = load_text(page, "page", is_html=True)
    assert "publication de plusieurs modèles" in doc.text
    assert "tracking" not in doc.text and doc.title == "Pékin ouvre ses modèles"


def test_loading_is_deterministic():
    first = [d.content_hash for d in load_corpus(SEEDS).documents]
    assert first == [d.content_hash for d in load_corpus(SEEDS).documents]
