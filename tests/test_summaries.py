"""Summaries: period and broad questions, points chosen for coverage, streamed one by one."""

import json
import re
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from rag.answering import prompts, summaries
from rag.answering.answer import Answer, AnswerPipeline, Draft
from rag.answering.periods import Period, parse_period
from rag.answering.retrieval import Evidence
from rag.answering.summaries import (
    Plan,
    Point,
    PointChecker,
    add_quotes_for_coverage,
    choose_for_coverage,
    complete_items,
    everywhere_keys,
    quoted_point,
    shortened,
    summary_kind,
)
from rag.answering.verify import common_keys
from rag.backends.llms import ExtractiveLLM
from rag.config import Settings
from rag.ingest.corpus import load_corpus
from tests.conftest import SEEDS, HashingEmbedder, ScriptedLLM

SETTINGS = Settings(min_relevance=0.05, top_k=4, evidence=4, summary_points="written")
QUOTING = SETTINGS.replace(summary_points="quotes")
JULY = "002_00b606b2294fa235"  # the seed dated 2024-07
NEWEST = date(2025, 3, 31)


@pytest.fixture(scope="module")
def everywhere():
    keys = everywhere_keys([d.text for d in load_corpus(SEEDS).documents])
    return lambda: keys


def kind(question: str, everywhere) -> str | None:
    return summary_kind(question, parse_period(question, NEWEST), everywhere)


@pytest.mark.parametrize(
    "question",
    [
        "Que disent les articles publiés en juillet 2024 ?",
        "Qu'est-ce qui s'est passé en décembre 2024 ?",
        "Qu'a dit la Chine en juillet 2024 ?",  # "Chine" is in every seed: no subject
        "Quoi de neuf depuis décembre 2024 ?",
        "What happened in March 2025?",
        "What was reported in 2024?",
        "Summarise the year 2024 for me.",
        "Quelles sont les dernières nouvelles ?",
        "Résume les articles.",  # no period, no subject: an overview of them all
    ],
)
def test_a_period_named_with_nothing_more_specific_asks_for_a_summary(question, everywhere):
    assert kind(question, everywhere) == "period"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Quel dirigeant chinois a exhorté les pays en juillet 2024 ?", None),
        ("Qui a lancé le plan en décembre 2024 ?", None),
        ("Que disent les articles de 2024 sur les Nations unies ?", "broad"),
        ("Que disent les articles au sujet de l'Europe ?", "broad"),
        ("Compare how the articles describe the rivalry with the United States.", "broad"),
        ("Which dangers of AI do the articles point out?", "broad"),
        ("Qui est Wang Yi ?", None),
        ("Quels points de vue les articles expriment-ils sur DeepSeek ?", "broad"),
        ("Comment les articles présentent-ils DeepSeek ?", "broad"),
        ("How do the articles describe Europe's position on AI?", "broad"),
        ("How do the sources portray Reddit?", "broad"),
        ("Comment DeepSeek a-t-il été entraîné ?", None),
    ],
)
def test_a_subject_makes_a_factual_or_a_broad_question(question, expected, everywhere):
    assert kind(question, everywhere) == expected


def passage(number, doc_id, score, vector, start=0, date=None) -> Evidence:
    vector = np.asarray(vector, dtype=np.float32)
    return Evidence(
        number=number,
        doc_id=doc_id,
        chunk_id=f"{doc_id}:0",
        title=doc_id,
        date=date,
        url=None,
        text=f"Passage {number} de l'article {doc_id}, assez long pour être cité.",
        start=start,
        end=start + 60,
        score=score,
        vector=vector / np.linalg.norm(vector),
    )


def test_points_cover_every_article_before_a_second_passage_of_one():
    # Article a has the two best passages, nearly the same; b and c are less relevant.
    a1 = passage(1, "a", 0.90, [1, 0, 0])
    a2 = passage(2, "a", 0.89, [0.99, 0.1, 0])
    a3 = passage(3, "a", 0.85, [0, 0, 1])
    b1 = passage(4, "b", 0.84, [0, 1, 0])
    c1 = passage(5, "c", 0.80, [0, 0.6, 0.8])
    candidates = [a1, a2, a3, b1, c1]
    by_score = sorted(candidates, key=lambda e: -e.score)[:3]
    assert [e.number for e in by_score] == [1, 2, 3]  # what the scores alone would pick
    chosen = choose_for_coverage(candidates, 3, {"a", "b", "c"})
    assert [e.doc_id for e in chosen] == ["a", "b", "c"]
    # Once every article is cited, the second passage of a is the one unlike the first.
    chosen = choose_for_coverage(candidates, 4, {"a", "b", "c"})
    assert [e.number for e in chosen] == [1, 4, 5, 3]
    # An article that did not pass the relevance decision is never drawn on.
    assert [e.doc_id for e in choose_for_coverage(candidates, 3, {"a"})] == ["a", "a", "a"]


def test_a_rejected_point_is_quoted_so_that_two_articles_are_cited():
    a1, b1 = passage(1, "a", 0.9, [1, 0]), passage(2, "b", 0.8, [0, 1])
    plan = Plan("broad", [a1, b1], ["a", "b"])
    points = [quoted_point(a1)]
    assert not add_quotes_for_coverage(points, plan, quotable=[])  # the model said nothing
    assert add_quotes_for_coverage(points, plan, quotable=[2]) and len(points) == 2
    assert [p.sources for p in points] == [[1], [2]]


def test_a_passage_kept_for_coverage_is_translated_when_the_model_can():
    a1, b1 = passage(1, "a", 0.9, [1, 0]), passage(2, "b", 0.8, [0, 1])
    plan = Plan("broad", [a1, b1], ["a", "b"])
    translated = Point("Passage two of article b, long enough to be cited.", [2])
    points = [quoted_point(a1)]
    assert add_quotes_for_coverage(points, plan, quotable=[2], restate=lambda e: translated)
    assert points[1] is translated
    points = [quoted_point(a1)]  # no translation: the passage is quoted
    assert add_quotes_for_coverage(points, plan, quotable=[2], restate=lambda e: None)
    assert points[1].quoted and points[1].sources == [2]


def test_the_translation_of_a_passage_is_asked_with_the_warmed_prefix_and_checked():
    class Checker:
        def __init__(self):
            self.seen = []

        def translation(self, text, number):
            self.seen.append((text, number))
            return Point(text, [number])

    french = passage(2, "b", 0.8, [0, 1])
    reply = '{"points": ["China and Zambia launched the plan at the United Nations."]}'
    llm, checker = ScriptedLLM(reply), Checker()
    point = summaries.translated_point(llm, french, "en", checker)
    assert point.text.startswith("China and Zambia") and checker.seen[0][1] == 2
    messages = llm.prompts[0]
    assert messages[:-1] == prompts.build_messages("", [], "en", broad=True)[:-1]
    assert prompts.TRANSLATE_QUESTIONS["en"] in messages[-1]["content"]
    assert summaries.translated_point(llm, french, "fr", checker) is None  # already French
    assert len(llm.prompts) == 1


def test_a_long_passage_is_cut_at_a_clause_and_still_points_into_its_article():
    text = "Intro. " + "Un deux trois quatre cinq six sept huit neuf dix, " * 6 + "fin."
    start = len("Intro. ")
    evidence = passage(1, "a", 0.9, [1, 0])
    evidence = Evidence(**{**evidence.__dict__, "text": text[start:], "start": start})
    short = shortened(evidence, text, words=32)
    assert text[short.start : short.end] == short.text
    assert short.text.endswith("dix,") and len(short.text.split()) <= 32
    assert quoted_point(short).text.endswith("dix…")


def test_complete_points_are_read_from_a_partial_reply():
    assert complete_items('{"points": ["Un point.", "Le deu') == ["Un point."]
    assert complete_items('{"points": ["Un \\"point\\".", "Deux."]}') == ['Un "point".', "Deux."]
    assert complete_items('{"points": [') == []
    assert complete_items("pas du JSON") == []


def copy_the_passage(messages) -> str:
    """A model that restates its one passage (its first sentence)."""
    line = re.search(r"^\[1\] (.*)$", messages[-1]["content"], re.M).group(1)
    return json.dumps({"points": [line.split(". ")[0]]}, ensure_ascii=False)


def test_the_july_2024_question_gets_a_cited_summary_of_the_july_article(retriever):
    llm = ScriptedLLM(copy_the_passage)
    pipeline = AnswerPipeline(retriever, llm, SETTINGS)
    answer = pipeline.ask("Que disent les articles publiés en juillet 2024 ?")
    assert not answer.refused and 2 <= len(answer.sentences) <= 5
    assert {s.doc_id for s in answer.sources} == {JULY}
    assert all(s.sources for s in answer.sentences)
    assert "Li Qiang" in answer.text or "Premier ministre" in answer.text
    assert "Un seul article pour la période du 2024-07-01 au 2024-07-31" in answer.notice
    assert "2 article(s) sans date" in answer.notice  # as for any question about a period
    assert answer.period == {"since": "2024-07-01", "until": "2024-07-31", "from": "question"}
    # The model is asked what the article says, not about July 2024 (its text has no date).
    assert "Question : " + prompts.PERIOD_QUESTIONS["fr"] in llm.prompts[0][-1]["content"]
    english = pipeline.ask("What did the articles published in July 2024 say?")
    assert english.language == "en" and {s.doc_id for s in english.sources} == {JULY}


def test_passages_in_the_answers_language_are_quoted_without_the_model(retriever):
    llm = ScriptedLLM(copy_the_passage)
    pipeline = AnswerPipeline(retriever, llm, QUOTING)
    answer = pipeline.ask("Que disent les articles parus en 2024 ?")
    assert not answer.refused and len({s.doc_id for s in answer.sources}) == 2
    assert llm.prompts == []  # every seed is French: nothing to translate
    for sentence in answer.sentences:
        passage = answer.sources[sentence.sources[0] - 1]
        assert sentence.text.rstrip("…") in " ".join(passage.text.split())
    assert prompts.QUOTED_POINTS_NOTICES["fr"] in answer.notice
    english = pipeline.ask("What was reported in 2024?")
    assert not english.refused and llm.prompts  # the model writes the English points
    asked = "Question: " + prompts.PERIOD_QUESTIONS["en"]
    assert asked in llm.prompts[0][-1]["content"]
    # The copying model writes French: its points fail, and a translation is asked for coverage.
    translate = "Question: " + prompts.TRANSLATE_QUESTIONS["en"]
    assert all(
        p[-1]["content"].count(asked) + p[-1]["content"].count(translate) for p in llm.prompts
    )


def test_the_july_2024_question_without_a_model_quotes_the_july_article(retriever):
    answer = AnswerPipeline(retriever, ExtractiveLLM(), SETTINGS).ask(
        "Que disent les articles publiés en juillet 2024 ?"
    )
    assert not answer.refused and {s.doc_id for s in answer.sources} == {JULY}
    assert answer.text.startswith("Le Premier ministre chinois a appelé")  # its opening


def test_a_period_with_no_article_is_refused_without_the_model(retriever):
    llm = ScriptedLLM(copy_the_passage)
    pipeline = AnswerPipeline(retriever, llm, SETTINGS)
    for question, opening in [
        ("Que disent les articles publiés en septembre 2024 ?", "Aucun article sur cette période"),
        ("What happened in January 2025?", "No article from this period"),
    ]:
        answer = pipeline.ask(question)
        assert answer.refused and answer.text.startswith(opening)
        assert answer.sentences == [] and answer.sources == []
    assert llm.prompts == []


def test_a_period_summary_cites_its_articles_newest_first(retriever):
    answer = AnswerPipeline(retriever, ScriptedLLM(copy_the_passage), SETTINGS).ask(
        "Que disent les articles parus en 2024 ?"
    )
    dates = [answer.sources[s.sources[0] - 1].date for s in answer.sentences]
    assert dates[0] == "2024-12-20" and dates[-1] == "2024-07"
    assert len({s.doc_id for s in answer.sources}) == 2 and answer.notice.count("sans date")


def test_the_first_point_is_shown_before_the_last_is_written(retriever):
    llm = ScriptedLLM(copy_the_passage)
    pipeline = AnswerPipeline(retriever, llm, SETTINGS)
    events = []
    for event in pipeline.stream("Résume la stratégie de la Chine en matière d'IA open source."):
        events.append((event, len(llm.prompts)))
    drafts = [(e, calls) for e, calls in events if isinstance(e, Draft)]
    answer = events[-1][0]
    assert isinstance(answer, Answer) and len(answer.sentences) >= 2
    first, calls = drafts[0]
    assert calls == 1  # shown while the other points are still to be written
    assert first.text.count("[") == 1 and first.text in answer.text
    assert len(llm.prompts) == 3  # one call per passage


def test_a_broad_question_cites_two_articles_and_says_when_only_one_is_about_it(retriever):
    pipeline = AnswerPipeline(retriever, ScriptedLLM(copy_the_passage), SETTINGS)
    answer = pipeline.ask("Résume la stratégie de la Chine en matière d'IA open source.")
    assert len({s.doc_id for s in answer.sources}) >= 2
    assert answer.notice is None

    def only_about_one(messages):  # the model finds nothing in the other articles' passages
        return (
            copy_the_passage(messages) if "Zambie" in messages[-1]["content"] else '{"points": []}'
        )

    one = AnswerPipeline(retriever, ScriptedLLM(only_about_one), SETTINGS).ask(
        "Résume le partenariat de la Chine avec la Zambie."
    )
    assert not one.refused and {s.doc_id for s in one.sources} == {"000_223126d914c8c667"}
    assert one.notice.startswith("Un seul article traite de la question")


def test_a_broad_question_the_model_finds_nothing_about_is_refused(retriever):
    llm = ScriptedLLM('{"points": []}')
    answer = AnswerPipeline(retriever, llm, SETTINGS).ask(
        "Résume la stratégie de la Chine en matière d'IA open source."
    )
    assert answer.refused and llm.prompts
    item = llm.schemas[0]["properties"]["points"]
    assert item["items"] == {"type": "string"} and item["maxItems"] == 1  # one point, no quote


def test_unsupported_points_are_dropped_and_their_passage_quoted(retriever):
    llm = ScriptedLLM('{"points": ["Le Brésil a gagné la Coupe du monde 2026 à Tokyo."]}')
    answer = AnswerPipeline(retriever, llm, SETTINGS).ask(
        "Résume la stratégie de la Chine en matière d'IA open source."
    )
    assert "Brésil" not in answer.text and not answer.refused
    assert len({s.doc_id for s in answer.sources}) == 2
    assert answer.notice == prompts.QUOTED_POINTS_NOTICES["fr"]  # quoted, every one


def test_recent_news_are_summarised_from_the_newest_articles(retriever):
    answer = AnswerPipeline(retriever, ExtractiveLLM(), SETTINGS).ask(
        "Quelles sont les dernières nouvelles ?"
    )
    assert answer.period == {"since": None, "until": None, "from": "question", "recent": True}
    assert answer.sources[0].date == "2025-03-20"
    assert Period(recent=True) == parse_period("Quelles sont les dernières nouvelles ?", NEWEST)


def test_a_question_is_translated_into_the_articles_language_or_not_at_all():
    llm = ScriptedLLM("Que disent les sources sur la Zambie et le Sud global ?")
    question = "What do the sources report about Zambia and the Global South?"
    translated = summaries.question_in(llm, question, "fr")
    assert translated == "Que disent les sources sur la Zambie et le Sud global ?"
    assert llm.prompts[0][0]["content"] == prompts.TRANSLATE_QUESTION_PROMPTS["fr"]
    assert llm.prompts[0][-1]["content"] == question
    answered = ScriptedLLM("Les sources présentent la Zambie comme un partenaire.")
    assert summaries.question_in(answered, question, "fr") is None  # answered, not translated
    assert summaries.question_in(ScriptedLLM(question), question, "fr") is None  # not French
    assert summaries.question_in(ScriptedLLM("Zambie " * 40), question, "fr") is None
    assert summaries.question_in(ScriptedLLM(""), question, "fr") is None


def test_subject_words_are_looked_for_in_the_articles_language(everywhere):
    documents = {d.doc_id: d for d in load_corpus(SEEDS).documents}
    candidates = [passage(n, doc_id, 0.8, [1, 0]) for n, doc_id in enumerate(documents, 1)]

    def relevant(question):
        subject = summaries.subject_keys(question, everywhere)
        return summaries.relevant_articles(candidates, lambda e: False, subject, documents)

    # The Zambia article writes "Zambie" and "Sud mondial", never "Global South"; "South"
    # and "soutien" share their first letters.
    zambia, global_south = "000_223126d914c8c667", "001_b6d4639251794dcc"
    assert relevant("Que disent les sources sur la Zambie et le Sud global ?") == {
        zambia,
        global_south,
    }
    assert zambia not in relevant("What do the sources report about Zambia and the Global South?")


def test_a_point_its_own_passage_does_not_support_is_dropped_and_the_passage_quotable():
    zambia = "La Chine a établi un partenariat avec la Zambie pour lancer cette initiative d'IA."
    qwen = "La Chine compte Qwen parmi les trois principaux contributeurs de l'open source."
    embedder = HashingEmbedder()
    vectors = embedder.embed_batch([zambia, qwen], is_query=False)
    first = replace(passage(1, "a", 0.8, [1, 0]), text=zambia, vector=vectors[0])
    second = replace(passage(2, "b", 0.8, [0, 1]), text=qwen, vector=vectors[1])
    checker = PointChecker(
        [first, second], embedder, "Résume ce que fait la Chine.", "fr", frozenset(), {}
    )
    made_up = "La Chine a établi un partenariat avec la Zambie pour cette initiative d'IA."
    assert checker.check(made_up, 2) is None  # written from passage 2, which says nothing of it
    assert checker.quotable == [2]  # its own words may stand in for it
    assert checker.check(made_up, 1).sources == [1]


def test_a_passage_in_the_articles_language_is_judged_by_the_translated_question():
    text = "Alors que la rivalité entre les États-Unis et la Chine s'intensifie, tout change."
    embedder = HashingEmbedder()
    french = replace(
        passage(1, "a", 0.8, [1, 0]), text=text, vector=embedder.embed_batch([text], False)[0]
    )
    asked = "Compare how the articles describe the rivalry between China and the United States."
    translated = "Comparez la rivalité entre la Chine et les États-Unis dans les articles."
    failed = "Both articles describe the rivalry as intensifying and strategic."
    common = common_keys(["la Chine"])  # in every article: names nothing
    untranslated = PointChecker([french], embedder, asked, "en", common, {})
    assert untranslated.check(failed, 1) is None and untranslated.quotable == []  # no "United"
    checker = PointChecker([french], embedder, asked, "en", common, {}, translated)
    assert checker.check(failed, 1) is None and checker.quotable == [1]
