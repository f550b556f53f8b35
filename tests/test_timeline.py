"""The Articles tab's timeline: months with gaps, clickable bars, the article table."""

import dataclasses

from rag.answering.periods import bounds
from rag.ingest.corpus import Document
from ui.timeline import months, source_of, timeline_html


def doc(doc_id: str, date: str | None, url: str | None = None, language: str = "fr") -> Document:
    return Document(
        doc_id=doc_id,
        text="Texte.",
        title=f"Titre {doc_id}",
        date=date,
        url=url,
        language=language,
        path=f"seeds/{doc_id}.txt",
        content_hash=doc_id,
    )


def test_months_run_from_the_oldest_to_the_newest_with_gaps_kept():
    docs = [doc("a", "2024-11-30"), doc("b", "2025-01"), doc("c", "2025-01-02"), doc("d", None)]
    assert months(docs) == [("2024-11", 1), ("2024-12", 0), ("2025-01", 2)]
    assert months([doc("y", "2024"), doc("n", None)]) == []


def test_a_month_becomes_its_first_and_last_day():  # what a click on a month sets
    assert bounds("2024-12") == ("2024-12-01", "2024-12-31")
    assert bounds("2024-02") == ("2024-02-01", "2024-02-29")


def test_the_chart_has_a_button_per_month_and_the_table_a_row_per_article():
    docs = {
        "a": doc("a", "2024-07", url="https://www.lemonde.fr/x"),
        "b": doc("b", "2024-09-03", language="en"),
        "c": doc("c", None),
    }
    page = timeline_html(docs, {"a": 3, "b": 5}, "fr")
    assert page.count("class='timeline-bar'") == 3  # July, August (empty), September
    assert "data-month='2024-08' title='2024-08: 0 articles' disabled" in page
    assert "1 sans date" in page
    assert page.count("<tr><td>") == 3
    assert "<td>lemonde.fr</td><td>fr</td><td>3</td>" in page
    assert "<td>b.txt</td><td>en</td><td>5</td>" in page
    assert page.index("Titre b") < page.index("Titre a") < page.index("Titre c")  # newest first
    assert "Articles per month" in timeline_html(docs, {}, "en")


def test_titles_are_escaped_and_an_empty_corpus_says_so():
    evil = dataclasses.replace(doc("e", "2024-01-01"), title="<img src=x onerror=alert(1)>")
    assert "<img" not in timeline_html({"e": evil}, {}, "fr")
    assert "Aucun article" in timeline_html({}, {}, "fr")
    assert source_of(doc("z", None)) == "z.txt"
