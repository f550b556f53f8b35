from rag.ingest.chunking import chunk_document, split_sentences
from rag.ingest.corpus import load_corpus
from tests.conftest import SEEDS


def test_every_chunk_of_every_seed_has_exact_offsets():
    documents = load_corpus(SEEDS).documents
    assert len(documents) == 5
    for doc in documents:
        chunks = chunk_document(doc, chunk_size=256, chunk_overlap=48)
        assert chunks, doc.doc_id
        for chunk in chunks:
            assert doc.text[chunk.start : chunk.end] == chunk.text
            assert chunk.doc_id == doc.doc_id and chunk.title == doc.title
        # Together the chunks cover the whole article.
        assert chunks[0].start == 0 and chunks[-1].end == len(doc.text)
        for before, after in zip(chunks, chunks[1:]):
            gap = doc.text[before.end : after.start]
            assert gap.strip() == "", "a gap between chunks loses text"


def test_small_chunks_overlap_and_stay_exact():
    doc = next(d for d in load_corpus(SEEDS).documents if d.doc_id.startswith("001"))
    chunks = chunk_document(doc, chunk_size=64, chunk_overlap=16)
    assert len(chunks) > 10
    assert all(doc.text[c.start : c.end] == c.text for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_sentence_spans():
    text = "Première phrase ici. Deuxième phrase !\nTitre de section\nFin « citée ». Ok."
    spans = split_sentences(text)
    pieces = [text[s:e] for s, e in spans]
    assert pieces == [
        "Première phrase ici.",
        "Deuxième phrase !",
        "Titre de section",
        "Fin « citée ». Ok.",
    ]


def test_sentences_carry_their_section_heading():
    from rag.ingest.chunking import section_headings, with_heading

    text = (
        "Titre de l'article\n\nIntro sans section.\n\nPoint de vue pessimiste\n\n"
        "La Chine menace ouvertement Taiwan. Une autre phrase.\n"
    )
    headings = section_headings(text)
    assert [h for _, h in headings] == ["Point de vue pessimiste"]
    # A date line is the article's metadata, not a section of it.
    dated = text.replace("Intro sans section.", "date 2016-02-02\n\nIntro sans section.")
    assert [h for _, h in section_headings(dated)] == ["Point de vue pessimiste"]
    taiwan = text.index("La Chine")
    end = text.index(".", taiwan) + 1
    assert with_heading(text, taiwan, end, headings) == (
        "Point de vue pessimiste : La Chine menace ouvertement Taiwan."
    )
    intro = text.index("Intro")
    assert with_heading(text, intro, intro + 19, headings) == "Intro sans section."
