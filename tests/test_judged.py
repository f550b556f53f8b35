"""Judged factual answers: the model says which of the best passages answers; it is quoted."""

import numpy as np
import pytest

from rag.answering import confidence, prompts, summaries
from rag.answering.answer import AnswerPipeline, Draft
from rag.answering.decisions import Model
from rag.answering.retrieval import Evidence, Retriever
from rag.config import Settings
from tests.conftest import HashingEmbedder, ScriptedLLM, json_reply

SETTINGS = Settings(min_relevance=0.05, top_k=4, evidence=4, factual_answers="judged")
TRANSLATED = SETTINGS.replace(cross_language_answers="translated")
QUOTED = SETTINGS.replace(cross_language_answers="quoted")
QUESTION = "Avec quel pays africain la Chine s'est-elle associée ?"


class Judging(ScriptedLLM):
    """A scripted model that also judges: `odds(passages)` gives the log-odds of each."""

    def __init__(self, odds, reply=json_reply([])):
        super().__init__(reply)
        self.odds = odds
        self.judged: list[list[str]] = []

    def judge(self, system, asked, passages, ask):
        self.judged.append(passages)
        return self.odds(passages)


# The probability rises with the best judgement alone: sigmoid(judged_best - 1); below 0.2 the
# question is refused.
def on_judgement(answer: float = 0.2) -> confidence.Confidence:
    weights = np.zeros((len(confidence.FEATURES), 1))
    weights[confidence.FEATURES.index("judged_best")] = 1.0
    model = Model(
        confidence.FEATURES,
        np.zeros(len(confidence.FEATURES)),
        np.ones(len(confidence.FEATURES)),
        (weights,),
        (np.array([-1.0]),),
    )
    return confidence.Confidence(model=model, answer=answer, sure=0.9, record={})


ON_JUDGEMENT = on_judgement()
ALWAYS = on_judgement(answer=0.0)  # answers whatever the judgement


def test_the_rankers_best_passage_is_judged_and_quoted_without_writing(retriever):
    llm = Judging(lambda passages: [3.0] * len(passages))
    pipeline = AnswerPipeline(retriever, llm, SETTINGS, confidence=ALWAYS)
    best = pipeline.retrieve(QUESTION, SETTINGS).evidence[0]
    answer = pipeline.ask(QUESTION)
    assert not answer.refused and llm.prompts == []  # judged, not written
    assert llm.judged == [[best.text]]  # one passage, the ranker's best
    assert " ".join(best.text.split()).rstrip(" .") in answer.text
    assert best.text in answer.sources[0].text


def test_the_judgement_rates_the_answer_and_does_not_choose_it(retriever):
    answers = [
        AnswerPipeline(retriever, Judging(lambda p: [odds] * len(p)), SETTINGS, ALWAYS).ask(
            QUESTION
        )
        for odds in (3.0, 0.0)
    ]
    assert answers[0].text == answers[1].text
    assert answers[0].confidence > answers[1].confidence


def test_a_question_over_passages_in_another_language_has_two_judged_for_the_model_across(
    retriever,
):
    weights = np.zeros((len(confidence.ACROSS_FEATURES), 1))
    across = confidence.Confidence(
        Model(
            confidence.ACROSS_FEATURES,
            np.zeros(len(weights)),
            np.ones(len(weights)),
            (weights,),
            (np.array([0.0]),),
        ),
        answer=0.0,
        sure=0.9,
        record={},
    )
    with_across = confidence.Confidence(ALWAYS.model, 0.0, 0.9, {}, across=across)
    llm = Judging(lambda passages: [1.0] * len(passages))
    AnswerPipeline(retriever, llm, SETTINGS, confidence=with_across).ask(ENGLISH)
    AnswerPipeline(retriever, llm, SETTINGS, confidence=ALWAYS).ask(ENGLISH)
    assert [len(p) for p in llm.judged] == [confidence.ACROSS_JUDGED, confidence.JUDGED]


def test_a_model_that_cannot_judge_writes_the_answer_without_a_confidence(retriever):
    llm = ScriptedLLM(json_reply([]))  # its `judge` is the default: None
    answer = AnswerPipeline(retriever, llm, SETTINGS, confidence=ALWAYS).ask(QUESTION)
    assert len(llm.prompts) == 1
    assert answer.confidence is None and answer.confidence_label is None


ENGLISH = "Which African country did China partner with?"
TRANSLATION = "China partnered with Zambia to launch this AI initiative."


class Translating(Judging):
    """Judges all passages alike, translates the English question into QUESTION, and any
    passage into `translation` (recording what it translated)."""

    def __init__(self, translation=TRANSLATION):
        super().__init__(lambda passages: [1.0] * len(passages), reply=self._reply)
        self.translation = translation
        self.asked: list[str] = []
        self.translated: list[str] = []

    def judge(self, system, asked, passages, ask):
        self.asked.append(asked)
        return super().judge(system, asked, passages, ask)

    def _reply(self, messages):
        system = messages[0]["content"]
        if system == prompts.TRANSLATE_QUESTION_PROMPTS["fr"]:
            return QUESTION
        if system == prompts.TRANSLATE_PASSAGE["en"]:
            self.translated.append(messages[-1]["content"])
            return self.translation
        return json_reply([])


class Understanding(HashingEmbedder):
    """Embeds a translation as the text it translates, as a multilingual model would."""

    def __init__(self, meanings: dict[str, str]):
        super().__init__()
        self.meanings = meanings

    def embed_batch(self, texts, is_query):
        return super().embed_batch([self.meanings.get(t, t) for t in texts], is_query)


def translating_pipeline(retriever, settings=TRANSLATED) -> tuple[AnswerPipeline, Translating]:
    """A pipeline whose model translates faithfully, as its embedder sees it."""
    llm = Translating()
    meanings = {}
    reading = Retriever(retriever.index, Understanding(meanings))
    original = llm._reply

    def understood(messages):
        reply = original(messages)
        if reply == TRANSLATION:
            meanings[TRANSLATION] = llm.translated[-1]
        return reply

    llm.reply = understood
    return AnswerPipeline(reading, llm, settings, confidence=ALWAYS), llm


def test_a_question_in_another_language_is_judged_in_the_articles_and_its_quote_translated(
    retriever,
):
    pipeline, llm = translating_pipeline(retriever)
    answer = pipeline.ask(ENGLISH)
    assert QUESTION in llm.asked[0]  # judged in French, as the confidence was trained
    assert len(llm.prompts) == 2  # the question and the quote translated; nothing written
    assert answer.text.startswith(TRANSLATION.rstrip(".")) and answer.language == "en"
    assert answer.confidence is not None
    assert len(answer.sources) == 1 and answer.sources[0].text == llm.translated[0]


def test_a_question_in_another_language_can_be_judged_as_asked_and_its_quote_translated(
    retriever,
):
    pipeline, llm = translating_pipeline(retriever, QUOTED)
    answer = pipeline.ask(ENGLISH)
    assert ENGLISH in llm.asked[0]  # judged as asked: the question is not translated
    assert len(llm.prompts) == 1  # the quote translated; nothing written
    assert answer.text.startswith(TRANSLATION.rstrip(".")) and answer.language == "en"
    assert len(answer.sources) == 1 and answer.sources[0].text == llm.translated[0]


@pytest.mark.parametrize(
    "translation",
    [
        "La Chine s'est associée à la Zambie pour lancer cette initiative.",  # still French
        "China partnered with Zambia in 2019 to launch this AI initiative.",  # a number added
        TRANSLATION,  # in English, but the embedder finds it far from the passage
    ],
)
def test_a_translation_that_fails_its_checks_leaves_the_answer_to_the_model(retriever, translation):
    llm = Translating(translation)
    AnswerPipeline(retriever, llm, TRANSLATED, confidence=ALWAYS).ask(ENGLISH)
    assert len(llm.judged) == 1 and len(llm.translated) == 1
    assert len(llm.prompts) == 3  # the question, the quote, then the written answer


def test_a_passage_is_translated_unless_the_reply_is_another_language_or_adds_a_number():
    llm = ScriptedLLM(lambda messages: TRANSLATION)
    *_, reply = summaries.translating(llm, "La Chine et la Zambie.", "en", 80)
    assert reply == TRANSLATION
    assert summaries.checked_translation(reply, "La Chine et la Zambie.", "en") == TRANSLATION
    assert summaries.checked_translation(reply, "La Chine et la Zambie.", "fr") is None
    added = "In 2019, China partnered with Zambia."
    assert summaries.checked_translation(added, "En 2020, la Chine et la Zambie.", "en") is None
    assert summaries.checked_translation(added, "En 2019, la Chine et la Zambie.", "en")


def test_the_translated_quote_is_shown_as_it_is_written(retriever):
    pipeline, _llm = translating_pipeline(retriever)
    events = list(pipeline.stream(ENGLISH))
    drafts, answer = [e.text for e in events[:-1]], events[-1]
    assert drafts and all(isinstance(e, Draft) for e in events[:-1])
    assert drafts[-1] == TRANSLATION and TRANSLATION.startswith(drafts[0])
    assert answer.timings["first_token"] < answer.timings["total"]


def test_the_model_writes_unless_judged_answers_are_chosen(retriever):
    llm = Judging(lambda passages: [1.0] * len(passages))
    AnswerPipeline(
        retriever, llm, SETTINGS.replace(factual_answers="model"), confidence=ALWAYS
    ).ask(QUESTION)
    assert len(llm.judged) == 1 and len(llm.prompts) == 1  # judged for the confidence only


@pytest.mark.parametrize(("best", "label"), [(5.0, "sure"), (0.0, "unsure")])
def test_the_answer_carries_the_confidence_of_its_judgement(retriever, best, label):
    llm = Judging(lambda passages: [best] + [-2.0] * (len(passages) - 1))
    answer = AnswerPipeline(retriever, llm, SETTINGS, confidence=ON_JUDGEMENT).ask(QUESTION)
    assert not answer.refused
    assert answer.confidence == pytest.approx(1 / (1 + np.exp(-(best - 1.0))), abs=1e-3)
    assert answer.confidence_label == label
    assert answer.to_dict()["confidence"] == answer.confidence


def test_the_measures_read_the_judgements_and_the_rankers_margin():
    first = Evidence(1, "d1", "d1#0", "A", None, None, "Un.", 0, 3, 0.84, ranked=2.0, language="fr")
    second = Evidence(
        2, "d2", "d2#0", "B", None, None, "Deux.", 0, 5, 0.8, ranked=-1.0, language="en"
    )
    alone = confidence.measures([0.5], [first, second], "fr")
    assert alone["judged_best"] == 0.5
    assert alone["ranked_margin"] == 3.0 and alone["same_language"] == 1.0
    assert alone["judged_margin"] == confidence.NO_RIVAL
    across = confidence.measures([0.5, 2.0], [first, second], "fr")
    row = confidence.features(across, confidence.ACROSS_FEATURES)
    assert row.tolist() == [[2.0, 1.5, 0.84, -1.0, 2.0]]
    assert across["same_language"] == 0.0
    assert confidence.measures([1.0], [first], "fr")["ranked_margin"] == confidence.NO_RIVAL


def test_a_passage_judged_not_to_answer_is_refused_by_the_learned_decision(retriever):
    llm = Judging(lambda passages: [-3.0] * len(passages))  # P(right) = sigmoid(-4) < 0.2
    answer = AnswerPipeline(retriever, llm, SETTINGS, confidence=ON_JUDGEMENT).ask(QUESTION)
    assert answer.refused and llm.prompts == []
    assert answer.confidence is None  # a refusal says no confidence


def test_the_learned_decision_replaces_the_cosine_gate_for_a_model_that_judges(retriever):
    gated = SETTINGS.replace(min_relevance=0.99)  # the gate would refuse everything
    sure = Judging(lambda passages: [4.0] + [-2.0] * (len(passages) - 1))
    answer = AnswerPipeline(retriever, sure, gated, confidence=ON_JUDGEMENT).ask(QUESTION)
    assert not answer.refused  # answered: the judgement decides, not the cosine
    # ... and the reverse: a passage the gate lets through is refused when judged unlikely.
    unlikely = Judging(lambda passages: [-3.0] * len(passages))
    answer = AnswerPipeline(retriever, unlikely, SETTINGS, confidence=ON_JUDGEMENT).ask(QUESTION)
    assert answer.refused
    # A model that cannot judge is still refused by the gate.
    scripted = ScriptedLLM(json_reply([]))
    assert AnswerPipeline(retriever, scripted, gated, confidence=ALWAYS).ask(QUESTION).refused


def test_another_models_judgements_are_not_read_by_a_confidence_trained_on_one():
    from dataclasses import replace

    trained = replace(ALWAYS, record={"trained_on": {"judge": "qwen2.5-coder-1.5b"}})
    assert trained.fits("qwen2.5-coder-1.5b") and not trained.fits("qwen2.5-coder-0.5b")
    assert ALWAYS.fits("anything")  # no judge recorded: a test double


def test_a_model_the_confidence_was_not_trained_on_writes_under_the_gate(retriever):
    from dataclasses import replace

    trained = replace(ALWAYS, record={"trained_on": {"judge": "another-model"}})
    llm = Judging(lambda passages: [4.0] * len(passages))
    answer = AnswerPipeline(retriever, llm, SETTINGS, confidence=trained).ask(QUESTION)
    assert llm.judged == [] and len(llm.prompts) == 1
    assert answer.confidence is None


def _paragraph_middle(index) -> int:
    """A sentence row with a long sentence of the same paragraph before and after it."""
    sentences, documents = index.sentences, index.documents
    for row in range(1, len(sentences) - 1):
        (before, _, end0), (doc, start, end), (after, start2, end2) = sentences[row - 1 : row + 2]
        text = documents[doc].text
        if before == doc == after and "\n" not in text[end0:start2] and end - start >= 90:
            return row
    raise AssertionError("no sentence in the middle of a paragraph")


@pytest.mark.parametrize("better", [-1, 1])
def test_a_quote_brings_the_neighbouring_sentence_the_ranker_rates_higher(retriever, better):
    from rag.answering.features import Candidate

    row = _paragraph_middle(retriever.index)
    rows = [row, row + better, row - better]
    sentences = retriever.index.sentences
    candidates = [
        Candidate(r, retriever.search(QUESTION, 1)[0], *sentences[r], *sentences[r][1:])
        for r in rows
    ]
    scores = np.array([2.0, 0.5, -1.0])  # the sentence, its better neighbour, the other one
    passage = retriever.select_evidence(candidates, np.zeros(3), scores, 1)[0]
    doc_id, start, end = sentences[row]
    _, neighbour_start, neighbour_end = sentences[row + better]
    quote = passage.as_quoted()
    assert (passage.start, passage.end) == (start, end)  # the model is shown the sentence
    assert (quote.start, quote.end) == (min(start, neighbour_start), max(end, neighbour_end))
    assert quote.text == retriever.index.documents[doc_id].text[quote.start : quote.end]
    assert quote.number == passage.number == 1


def test_a_quote_does_not_cross_a_paragraph(retriever):
    from rag.answering.features import Candidate

    sentences, documents = retriever.index.sentences, retriever.index.documents
    row = next(
        r
        for r in range(len(sentences) - 1)
        if sentences[r][0] == sentences[r + 1][0]
        and "\n" in documents[sentences[r][0]].text[sentences[r][2] : sentences[r + 1][1]]
        and sentences[r][2] - sentences[r][1] >= 90
    )
    hit = retriever.search(QUESTION, 1)[0]
    candidates = [Candidate(r, hit, *sentences[r], *sentences[r][1:]) for r in (row, row + 1)]
    passage = retriever.select_evidence(candidates, np.zeros(2), np.array([2.0, 1.0]), 1)[0]
    assert passage.as_quoted() is passage or passage.as_quoted().end <= sentences[row][2]


def test_the_judged_quote_cites_the_span_it_shows(retriever):
    llm = Judging(lambda passages: [3.0] + [0.0] * (len(passages) - 1))
    answer = AnswerPipeline(retriever, llm, SETTINGS, confidence=ALWAYS).ask(QUESTION)
    for source in answer.sources:
        document = retriever.index.documents[source.doc_id]
        assert source.text == document.text[source.start : source.end]
        assert " ".join(source.text.split()).rstrip(" .") in answer.text
    assert llm.judged[0][0] in answer.sources[0].text


@pytest.mark.parametrize("asked", [None, "Quel était le cours de l'action Nvidia ?"])
def test_the_answer_checks_look_for_the_question_as_searched_without_its_period(retriever, asked):
    question = "Quel était le cours de l'action Nvidia à la fin de 2024 ?"
    pipeline = AnswerPipeline(retriever, ScriptedLLM(json_reply([])), SETTINGS)
    filters = pipeline.resolve_filters(question)
    assert filters.period is not None
    builder = pipeline._builder(question, "fr", pipeline.llm, {}, [], filters, asked=asked)
    assert "2024" not in builder.asked and "Nvidia" in builder.asked


def test_by_default_a_question_in_another_language_is_judged_as_asked_and_written(retriever):
    llm = Translating()
    AnswerPipeline(retriever, llm, SETTINGS, confidence=ALWAYS).ask(ENGLISH)
    assert ENGLISH in llm.asked[0] and not llm.translated
    assert len(llm.prompts) == 1  # the answer written; no translation asked


def test_a_question_judged_against_passages_in_another_language_is_rated_across():
    from dataclasses import replace

    refusing = on_judgement(answer=0.99)
    both = replace(ON_JUDGEMENT, across=refusing)
    known = {name: 0.0 for name in confidence.FEATURES}
    assert both.rating({**known, "same_language": 1.0}) is both
    assert both.rating({**known, "same_language": 0.0}) is refusing
    assert ON_JUDGEMENT.rating({**known, "same_language": 0.0}) is ON_JUDGEMENT  # none across


@pytest.mark.parametrize(("across", "refused"), [(0.99, True), (0.0, False)])
def test_the_model_across_languages_decides_an_english_question_over_french_articles(
    retriever, across, refused
):
    from dataclasses import replace

    llm = Judging(lambda passages: [1.0] * len(passages))  # P = 0.5 on either scale
    rated = replace(ALWAYS, across=on_judgement(answer=across))
    AnswerPipeline(retriever, llm, SETTINGS, confidence=rated).ask(ENGLISH)
    assert (len(llm.prompts) == 0) is refused  # written only when the decision answers
    french = AnswerPipeline(retriever, llm, SETTINGS, confidence=rated).ask(QUESTION)
    assert not french.refused  # the French question keeps the same-language threshold
