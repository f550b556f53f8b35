"""Judged factual answers: the model says which of the best passages answers; it is quoted."""

import pytest

from rag.answering.answer import AnswerPipeline
from rag.config import Settings
from tests.conftest import ScriptedLLM, json_reply

SETTINGS = Settings(min_relevance=0.05, top_k=4, evidence=4, factual_answers="judged")
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


def test_the_passage_the_model_judges_best_is_quoted_without_writing(retriever):
    llm = Judging(lambda passages: [0.0] * (len(passages) - 1) + [3.0])  # the last one
    answer = AnswerPipeline(retriever, llm, SETTINGS).ask(QUESTION)
    assert not answer.refused and llm.prompts == []  # judged, not written
    assert len(llm.judged) == 1 and 1 <= len(llm.judged[0]) <= 2
    assert answer.text.startswith(" ".join(llm.judged[0][-1].split()).rstrip(" ."))
    assert len(answer.sources) == 1 and answer.sources[0].text == llm.judged[0][-1]


@pytest.mark.parametrize("odds", [[3.0, 0.0], [0.0, 3.0]])
def test_the_judgement_alone_picks_the_passage(retriever, odds):
    llm = Judging(lambda passages: odds[: len(passages)])
    answer = AnswerPipeline(retriever, llm, SETTINGS).ask(QUESTION)
    judged = llm.judged[0]
    best = judged[max(range(len(judged)), key=odds.__getitem__)]
    assert answer.sources[0].text == best


def test_a_model_that_cannot_judge_writes_the_answer(retriever):
    llm = ScriptedLLM(json_reply([]))  # its `judge` is the default: None
    AnswerPipeline(retriever, llm, SETTINGS).ask(QUESTION)
    assert len(llm.prompts) == 1


def test_a_question_in_another_language_than_its_passages_is_written(retriever):
    llm = Judging(lambda passages: [1.0] * len(passages))
    AnswerPipeline(retriever, llm, SETTINGS).ask("Which African country did China partner with?")
    assert llm.judged == [] and len(llm.prompts) == 1  # the model translates


def test_the_model_writes_unless_judged_answers_are_chosen(retriever):
    llm = Judging(lambda passages: [1.0] * len(passages))
    AnswerPipeline(retriever, llm, SETTINGS.replace(factual_answers="model")).ask(QUESTION)
    assert llm.judged == [] and len(llm.prompts) == 1
