"""Fast tests of the pieces under the browser chat: follow-ups, uploads, citation links."""

from rag.answering.answer import Answer, Source
from rag.answering.conversation import is_follow_up, standalone_question
from rag.config import Settings
from rag.index.engine import add_articles, ingest, load_articles
from rag.index.store import load_index
from ui.render import chat_message, sources_panel


def test_follow_ups_are_joined_to_the_question_they_follow():
    previous = ["Avec quel pays africain la Chine s'est-elle associée ?"]
    assert standalone_question("Et pourquoi ?", previous) == previous[0] + " Et pourquoi ?"
    assert standalone_question("and Zambia?", ["Who met?"]) == "Who met? and Zambia?"
    assert standalone_question("Et pourquoi ?", None) == "Et pourquoi ?"
    for standalone in (
        "Qui est Wang Yi ?",
        "Why did China choose Zambia?",
        "Quelles entreprises mènent les avancées chinoises en intelligence artificielle ?",
    ):
        assert not is_follow_up(standalone), standalone
    assert standalone_question("Qui est Wang Yi ?", previous) == "Qui est Wang Yi ?"


def test_uploads_are_checked_kept_beside_the_index_and_indexed(
    seed_copy, tmp_path, hashing_embedder
):
    settings = Settings(index_dir=str(tmp_path / "index"), corpus_dir=str(seed_copy))
    ingest(settings, embedder=hashing_embedder)
    good = tmp_path / "brest.md"
    good.write_text("# Brest\n\nLe supercalculateur Kerguelen ouvre à Brest.\n", encoding="utf-8")
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\x00\x00\x01" * 40)
    clash = tmp_path / "000_223126d914c8c667.txt"
    clash.write_text("Un autre texte.", encoding="utf-8")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4")

    added, refused = add_articles(settings, [good, binary, clash, pdf], hashing_embedder)

    assert added == ["brest", "000_223126d914c8c667-2"]  # a taken name is kept beside it
    reasons = {skip.path: skip.reason for skip in refused}
    assert set(reasons) == {"photo.txt", "report.pdf"}
    assert "not a readable PDF" in reasons["report.pdf"]
    assert sorted(p.name for p in (tmp_path / "index" / "uploads").iterdir()) == [
        "000_223126d914c8c667-2.txt",
        "brest.md",
    ]
    assert "brest" in load_index(settings.index_dir).documents
    assert not (seed_copy / "brest.md").exists()  # the corpus folder is never written to
    assert len(load_articles(settings).documents) == 7


def answer(refused=False) -> Answer:
    source = Source(
        n=1,
        doc_id="d1",
        title="Titre",
        date="2024-12-20",
        url=None,
        chunk_id="d1#0",
        text="la Zambie",
        start=11,
        end=20,
        score=0.9,
    )
    return Answer(
        question="Avec quel pays ?",
        language="fr",
        text="Refus." if refused else "La Chine s'est associée à la Zambie [1].",
        refused=refused,
        sentences=[],
        sources=[] if refused else [source],
        model="test",
    )


def test_citations_link_to_their_turn_and_records_round_trip():
    record = answer()
    assert Answer.from_dict(record.to_dict()) == record
    assert "[\\[1\\]](#cite-3-1)" in chat_message(record, 3)
    assert chat_message(answer(refused=True), 5).startswith("ⓘ")

    class Doc:
        text = "Partenaire la Zambie, pays africain."

    html = sources_panel({3: record, 5: answer(refused=True)}, {"d1": Doc()}, 3)
    assert "id='cite-3-1'" in html and "<mark>la Zambie</mark>" in html
    assert "id='answer-5' style='display:none'" in html


def test_the_answer_to_the_question_stands_out_in_its_sentence():
    from rag.answering.answer import Sentence

    record = answer()
    record.sentences = [Sentence("La Chine s'est associée à la Zambie.", [1], quote="Zambie")]
    assert Answer.from_dict(record.to_dict()) == record
    assert "**Zambie**" in chat_message(record, 1)
    # Article text stays escaped around it, and an answer without a quote shows no bold.
    record.text = "La Chine* s'est associée à la Zambie [1]."
    assert "Chine\\* s'est associée à la **Zambie**" in chat_message(record, 1)
    record.sentences[0].quote = None
    assert "**" not in chat_message(record, 1)


def test_a_short_quote_is_found_in_its_sentence_and_a_whole_one_is_not():
    from rag.answering.verify import quote_in

    sentence = "De son côté, la Chine a établi un partenariat avec la Zambie pour ce plan."
    assert quote_in(sentence, "zambie") == "Zambie"
    assert quote_in(sentence, "« la Zambie »") == "la Zambie"
    assert quote_in(sentence, sentence) is None  # the sentence is the quote: nothing to stand out
    assert quote_in(sentence, "Zambia") is None  # not written in the sentence
    assert quote_in("L'essor spécialement rapide de l'IA.", "ia") == "IA"  # whole words only
