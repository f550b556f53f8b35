"""Periods and source filters: the question's dates, filtered retrieval, empty periods (fast).

The seeds are dated 2024-07 (002), 2024-12-20 (000) and 2025-03-20 (003); 001 and 004 have
no date. Retrieval runs on a hashed bag-of-words embedder, answers on the extractive backend
or a scripted LLM that records whether it was called: no Qwen here.
"""

from __future__ import annotations

import json
import re
from datetime import date
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.answering.answer import AnswerPipeline
from rag.answering.periods import (
    Filters,
    Period,
    bounds,
    mentioned_spans,
    parse_period,
    without_period,
    without_relative,
)
from rag.backends.llms import ExtractiveLLM
from rag.config import Settings
from tests.conftest import QUESTIONS, ROOT, ScriptedLLM, json_reply

NEWEST = date(2025, 3, 20)  # the newest seed article: "now" for relative expressions
SETTINGS = Settings(min_relevance=0.05, top_k=4, evidence=4)
DATE_WORDS = re.compile(
    r"\d{4}|janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre"
    r"|january|february|march|april|june|july|august|september|october|november|december"
    r"|récent|recent|latest|dernier|dernière|last|year|année|mois|month",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("Qu'a annoncé la Chine en mars 2025 ?", "2025-03-01", "2025-03-31"),
        ("Quoi de neuf depuis 2024 ?", "2024-01-01", None),
        ("Que s'est-il passé depuis décembre 2024 ?", "2024-12-01", None),
        ("Qu'a fait la Chine l'an dernier ?", "2024-01-01", "2024-12-31"),
        ("Qu’a dit la Chine jusqu’en décembre 2024 ?", None, "2024-12-31"),
        ("Que disait-on l'année dernière ?", "2024-01-01", "2024-12-31"),
        ("Et le mois dernier ?", "2025-02-01", "2025-02-28"),
        ("Que disait-on avant juillet 2024 ?", None, "2024-06-30"),
        ("Et après décembre 2024 ?", "2025-01-01", None),
        ("Entre juillet 2024 et décembre 2024, qui parlait d'IA ?", "2024-07-01", "2024-12-31"),
        ("Qu'a dévoilé la Chine le 20 décembre 2024 ?", "2024-12-20", "2024-12-20"),
        ("Que dit l'article du 2024-07 ?", "2024-07-01", "2024-07-31"),
        ("What happened in December 2024?", "2024-12-01", "2024-12-31"),
        ("What did China announce on December 20, 2024?", "2024-12-20", "2024-12-20"),
        ("What has been said since March 2025?", "2025-03-01", None),
        ("What happened last year?", "2024-01-01", "2024-12-31"),
        ("Anything before 2025?", None, "2024-12-31"),
        ("What was said between July 2024 and March 2025?", "2024-07-01", "2025-03-31"),
        ("Who spoke about AI in May?", "2024-05-01", "2024-05-31"),  # the last May before
    ],
)
def test_a_question_names_a_period(question, since, until):
    assert parse_period(question, NEWEST) == Period(since=since, until=until)


@pytest.mark.parametrize(
    "question",
    [
        "Quelles sont les annonces les plus récentes sur l'IA ?",
        "Qu'a dit la Chine récemment ?",
        "Quelle est la dernière annonce de la Chine ?",
        "What is the latest news on Chinese AI?",
        "What is the most recent article about open source?",
    ],
)
def test_a_question_asks_for_the_newest_articles(question):
    assert parse_period(question, NEWEST) == Period(recent=True)


@pytest.mark.parametrize(
    "question",
    [
        "Qu'est-ce que le plan Made in China 2025 ?",
        "Qui a gagné la Coupe du monde de football 2022 ?",
        "It may be that China leads: who says so?",
        "Combien de pays ont signé ? 2024 pays ?",
        "Que peut-on faire maintenant ?",
        "What now?",
        "Qui est Wang Yi ?",
        "Pourquoi la Chine mise-t-elle sur l'open source ?",
    ],
)
def test_names_numbers_and_verbs_are_not_periods(question):
    assert parse_period(question, NEWEST) is None


def test_seed_questions_without_a_date_expression_get_no_period():
    items = [json.loads(line) for line in QUESTIONS.read_text("utf-8").splitlines() if line]
    holdout = ROOT / "tests/data/questions_holdout.jsonl"
    items += [json.loads(line) for line in holdout.read_text("utf-8").splitlines() if line]
    plain = [i["question"] for i in items if not DATE_WORDS.search(i["question"])]
    assert len(plain) >= 60
    assert [q for q in plain if parse_period(q, NEWEST) is not None] == []


def test_explicit_filters_take_years_months_and_days():
    assert Filters.explicit("2024", "2024-07").period == Period(
        since="2024-01-01", until="2024-07-31", origin="filter"
    )
    assert Filters.explicit("", None, " reddit ") == Filters(period=None, source="reddit")
    assert bounds("2024-02") == ("2024-02-01", "2024-02-29")
    with pytest.raises(ValueError, match="YYYY-MM"):
        Filters.explicit("mars 2025")
    with pytest.raises(ValueError, match="month"):
        Filters.explicit(None, "2024-13")
    with pytest.raises(ValueError, match="after"):
        Filters.explicit("2025", "2024-12")


def test_an_article_dated_by_month_is_in_a_period_holding_any_of_its_days():
    period = Period(since="2024-07-15", until="2024-12-01")
    assert period.contains("2024-07") and period.contains("2024-12")
    assert not period.contains("2024-12-20") and not period.contains(None)
    assert Period(recent=True).contains(None)  # a preference, not a range


def test_a_period_restricts_the_search_to_its_articles(retriever):
    question = "la Chine et l'intelligence artificielle open source"
    everything = {h.chunk.doc_id for h in retriever.search(question, 30)}
    assert len(everything) == 5
    december = Filters(period=Period(since="2024-12-01", until="2024-12-31"))
    hits = retriever.search(question, 30, filters=december)
    assert hits and {h.chunk.doc_id for h in hits} == {"000_223126d914c8c667"}
    reddit = retriever.search(question, 30, filters=Filters(source="reddit.com"))
    assert {h.chunk.doc_id for h in reddit} == {"004_23a19dbc87d1e42f"}
    assert retriever.search(question, 5, filters=Filters.explicit("2023", "2023")) == []


def test_latest_news_moves_the_newest_article_up(retriever):
    question = "la Chine et l'intelligence artificielle"
    plain = retriever.search(question, 30)
    recent = retriever.search(question, 30, filters=Filters(period=Period(recent=True)))

    def place(hits):
        return min(h.rank for h in hits if h.chunk.doc_id.startswith("003_"))

    assert place(recent) < place(plain)
    undated = {h.chunk.chunk_id: h.score for h in plain if h.chunk.date is None}
    assert all(undated[h.chunk.chunk_id] == h.score for h in recent if h.chunk.date is None)


def test_an_empty_period_is_said_without_calling_the_model(retriever):
    llm = ScriptedLLM(json_reply([{"text": "En 2023, la Chine a tout annoncé.", "sources": [1]}]))
    answer = AnswerPipeline(retriever, llm, SETTINGS).ask("Qu'a annoncé la Chine en 2023 ?")
    assert answer.refused and llm.prompts == []
    assert answer.text == (
        "Aucun article sur cette période (du 2023-01-01 au 2023-12-31) : "
        "les articles vont de 2024-07 à 2025-03."
    )
    assert answer.to_dict()["period"] == {
        "since": "2023-01-01",
        "until": "2023-12-31",
        "from": "question",
    }
    english = AnswerPipeline(retriever, llm, SETTINGS).ask("What did China say in 2023?")
    assert english.text.startswith("No article from this period (2023-01-01 to 2023-12-31)")
    assert llm.prompts == []


def test_a_period_answer_cites_only_its_articles_and_says_what_it_left_out(retriever):
    pipeline = AnswerPipeline(retriever, ExtractiveLLM(), SETTINGS)
    answer = pipeline.ask("Qu'a dévoilé la Chine en décembre 2024 ?")
    assert not answer.refused and answer.sources
    assert {s.date for s in answer.sources} == {"2024-12-20"}
    assert "2 article(s) sans date" in answer.notice
    assert pipeline.ask("Qu'a dévoilé la Chine ?").period is None


def test_explicit_filters_override_the_question(retriever):
    pipeline = AnswerPipeline(retriever, ExtractiveLLM(), SETTINGS)
    filters = Filters.explicit("2024-12", "2024-12")
    answer = pipeline.ask("Qu'a annoncé la Chine en 2023 ?", filters=filters)
    assert answer.period == {"since": "2024-12-01", "until": "2024-12-31", "from": "filter"}
    assert all(s.date == "2024-12-20" for s in answer.sources)
    nothing = pipeline.ask("Qui est Wang Yi ?", filters=Filters.explicit(source="lemonde.fr"))
    assert nothing.refused and "lemonde.fr" in nothing.text and nothing.source_filter


def test_every_time_question_names_its_expected_period():
    path = ROOT / "tests/data/time_questions.jsonl"
    items = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    assert len(items) >= 12 and {i["language"] for i in items} == {"fr", "en"}
    assert sum(i["empty"] for i in items) >= 3
    for item in items:
        expected = item["period"]
        period = parse_period(item["question"], NEWEST)
        if expected.get("recent"):
            assert period == Period(recent=True), item["id"]
        else:
            assert (period.since, period.until) == (expected["since"], expected["until"])


def test_time_questions_are_judged_on_period_emptiness_and_article(retriever):
    from rag.eval.time_verdicts import judge_time, summarise_time

    pipeline = AnswerPipeline(retriever, ExtractiveLLM(), SETTINGS)
    empty = {
        "id": "t1",
        "question": "Qu'a annoncé la Chine en 2023 ?",
        "language": "fr",
        "answerable": False,
        "doc_ids": [],
        "answer_any": [],
        "evidence_any": [],
        "period": {"since": "2023-01-01", "until": "2023-12-31"},
        "empty": True,
    }
    verdict = judge_time(empty, pipeline.ask(empty["question"]))
    assert verdict.passed and verdict.said_empty
    wrong_period = dict(empty, period={"since": "2024-01-01", "until": "2024-12-31"})
    assert not judge_time(wrong_period, pipeline.ask(empty["question"])).passed
    dated = {
        "id": "t2",
        "question": "Qu'a dévoilé la Chine en décembre 2024 ?",
        "language": "fr",
        "answerable": True,
        "doc_ids": ["000_223126d914c8c667"],
        "answer_any": ["Plan de renforcement"],
        "evidence_any": ["Plan de renforcement"],
        "period": {"since": "2024-12-01", "until": "2024-12-31"},
        "empty": False,
    }
    good = judge_time(dated, pipeline.ask(dated["question"]))
    other = judge_time(dict(dated, doc_ids=["003_17ec4d8c2da1e718"]), pipeline.ask("Et en 2024 ?"))
    assert good.passed and not other.passed
    assert summarise_time([verdict, good, other])["failures"] == ["t2"]


def test_a_question_s_period_also_lets_in_articles_that_write_one_of_its_dates():
    # A question names the time of events: the article's date in news, a date in the text of
    # a history article ("qui occupe le stade en 1934 ?" over an article dated 2014).
    article = SimpleNamespace(date="2014-03", url=None, path="stade.txt", doc_id="stade")
    asked = Filters(period=parse_period("Qui occupe le stade en 1934 ?", None))
    assert asked.allows(article, mentioned_spans("Le club occupe le stade dès 1934."))
    assert not asked.allows(article, mentioned_spans("Le stade est construit en 1950."))
    # A month needs the month written: the year alone is not "March 2025".
    march = Filters(period=parse_period("What happened in March 2025?", None))
    assert march.allows(article, mentioned_spans("En mars 2025, le club a changé de stade."))
    assert not march.allows(article, mentioned_spans("La saison 2025 commence."))
    # The user's own filter is on the articles' dates only.
    assert not Filters.explicit("1934", "1934").allows(article, mentioned_spans("dès 1934"))


def test_relative_time_words_choose_articles_not_passages(retriever):
    # No article writes "l'an dernier": searched, it only pulls in passages that say
    # "dernières"; the period it names already chose the articles. Absolute dates are written.
    assert without_relative("Où a-t-il parlé l’an dernier ?") == "Où a-t-il parlé ?"
    assert without_relative("Who spoke last year about AI?") == "Who spoke about AI?"
    assert without_relative("Qui occupe le stade en 1934 ?") == "Qui occupe le stade en 1934 ?"
    asked = retriever.retrieve("Où le Premier ministre a-t-il parlé l'an dernier ?", 6, 4)
    plain = retriever.retrieve("Où le Premier ministre a-t-il parlé ?", 6, 4)
    assert [(h.chunk.chunk_id, h.dense_score) for h in asked.hits] == [
        (h.chunk.chunk_id, h.dense_score) for h in plain.hits
    ]
    assert [(e.doc_id, e.start) for e in asked.evidence] == [
        (e.doc_id, e.start) for e in plain.evidence
    ]


# --- what news writes: seasons, terms, halves, quarters (issue 24) ------------------------------


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        ("Quel est le classement de l'Exelsior AC en 1930-31 ?", "1930-01-01", "1931-12-31"),
        ("Who won the 2019-20 season?", "2019-01-01", "2020-12-31"),
        ("Qui a mené le championnat 2024/25 ?", "2024-01-01", "2025-12-31"),
        ("Qui présidait pendant la saison 2019-2020 ?", "2019-01-01", "2020-12-31"),
        ("Et la saison 1999-00 ?", "1999-01-01", "2000-12-31"),
        ("Quels résultats au S1 2025 ?", "2025-01-01", "2025-06-30"),
        ("What were the H2 2024 sales?", "2024-07-01", "2024-12-31"),
        ("What happened in Q3 2025?", "2025-07-01", "2025-09-30"),
        ("Quel chiffre d'affaires au T4 2024 ?", "2024-10-01", "2024-12-31"),
        ("Que s'est-il passé fin 2024 ?", "2024-01-01", "2024-12-31"),
        ("Qu'annonçait-on mi-2024 ?", "2024-01-01", "2024-12-31"),
        ("Que dit l'article du 2024-07 ?", "2024-07-01", "2024-07-31"),  # still a month
    ],
)
def test_seasons_halves_and_quarters_are_periods(question, since, until):
    assert parse_period(question, NEWEST) == Period(since=since, until=until)


@pytest.mark.parametrize(
    "question",
    [
        "Qui gagne en 2019-13 ?",  # neither a month nor a season
        "Que s'est-il passé au S3 2025 ?",  # no third half
        "Que dit l'article du 2024-02-31 ?",  # no such day
        "Que s'est-il passé il y a 99999999 ans ?",  # before the calendar begins
    ],
)
def test_an_unreadable_date_leaves_the_question_without_a_period(question):
    assert parse_period(question, NEWEST) is None


def test_the_season_question_that_crashed_the_cli_is_answered(retriever):
    pipeline = AnswerPipeline(retriever, ExtractiveLLM(), SETTINGS)
    answer = pipeline.ask("Quel est le classement de l'Exelsior AC en 1930-31 ?")
    assert answer.period == {"since": "1930-01-01", "until": "1931-12-31", "from": "question"}
    assert answer.refused  # no seed article is about 1930


# --- nothing a question says makes the reader or the pipeline raise ----------------------------

WORDS = [
    "en", "depuis", "avant", "après", "entre", "et", "fin", "mi-", "début", "saison", "the",
    "since", "before", "between", "and", "season", "S1", "H2", "Q3", "T4", "il y a", "ans",
    "ago", "years", "l'an dernier", "last year", "le", "Chine", "IA", "?", "'", "’",
]  # fmt: skip
MONTHS = ["janvier", "février", "mars", "août", "décembre", "déc.", "May", "sept", "july"]
PIECES = st.one_of(
    st.integers(1890, 2110).map(str),  # years, and numbers next to them
    st.from_regex(r"\A[0-9]{1,9}\Z"),
    st.sampled_from(["-", "/", "–", " - ", ".", ",", " "]),
    st.sampled_from(MONTHS),
    st.sampled_from(WORDS),
    st.text(max_size=4),
)
# At least one date-like piece: "1930-31", "2024-88", "S3 2025", "2019/2020-07".
YEARS = st.integers(1890, 2110).map(str)
NUMBERS = st.integers(0, 99).map(lambda n: f"{n:02d}") | st.integers(0, 9999).map(str)
DATE_LIKE = st.one_of(
    st.tuples(YEARS, st.sampled_from("-/–"), NUMBERS),  # "1930-31", "2024/25", "2019-2020"
    st.tuples(YEARS, st.just("-"), NUMBERS, st.just("-"), NUMBERS),  # "2024-02-31"
    st.tuples(st.sampled_from("SHQTshqt"), st.integers(0, 9).map(str), st.just(" "), YEARS),
).map("".join)


def _question(separator: str, before: list[str], date_like: str, after: list[str]) -> str:
    return separator.join([*before, date_like, *after])


# Pieces joined with spaces ("en 2019 - 20") or without ("2019-20", "fin2024").
QUESTIONS_TEXT = st.builds(
    _question,
    st.sampled_from([" ", ""]),
    st.lists(PIECES, max_size=7),
    DATE_LIKE,
    st.lists(PIECES, max_size=7),
)
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@FUZZ
@given(QUESTIONS_TEXT)
def test_the_period_reader_never_raises(question):
    period = parse_period(question, NEWEST)
    assert period is None or isinstance(period, Period)
    if period is not None and period.since and period.until:
        assert period.since <= period.until
    without_period(question)
    without_relative(question)


@FUZZ
@given(QUESTIONS_TEXT)
def test_the_answer_pipeline_never_raises(retriever, question):
    answer = AnswerPipeline(retriever, ExtractiveLLM(), SETTINGS).ask(question)
    assert answer.text
