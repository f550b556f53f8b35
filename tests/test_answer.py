"""The answer pipeline with an input-dependent embedder and a scripted LLM."""

import re

import pytest

from rag.answer import AnswerPipeline
from rag.config import Settings
from rag.corpus import load_corpus
from rag.errors import LLMError
from rag.llms import ExtractiveLLM
from rag.retrieval import Retriever
from rag.store import build_index, load_index
from tests.conftest import SEEDS, ScriptedLLM, json_reply

SETTINGS = Settings(min_relevance=0.05, top_k=4, evidence=4)


@pytest.fixture(scope="module")
def retriever(tmp_path_factory):
    from tests.conftest import HashingEmbedder

    embedder = HashingEmbedder()
    index_dir = tmp_path_factory.mktemp("index")
    build_index(load_corpus(SEEDS).documents, embedder, index_dir, 128, 24)
    return Retriever(load_index(index_dir), embedder)


def source_with(messages, word) -> int:
    """The number of the evidence line holding `word` in the prompt the LLM got."""
    prompt = messages[-1]["content"]
    for number, line in re.findall(r"^\[(\d+)\] (.*)$", prompt, re.M):
        if word in line:
            return int(number)
    raise AssertionError(f"{word!r} is not in the evidence: {prompt}")


def test_cited_answer_points_at_the_supporting_passage(retriever):
    llm = ScriptedLLM(
        lambda m: json_reply(
            [
                {
                    "text": "La Chine a établi un partenariat avec la Zambie.",
                    "sources": [source_with(m, "Zambie")],
                }
            ]
        )
    )
    answer = AnswerPipeline(retriever, llm, SETTINGS).ask(
        "Avec quel pays la Chine a-t-elle établi un partenariat pour cette initiative ?"
    )
    assert not answer.refused and answer.language == "fr"
    assert answer.text.endswith("[1].")
    assert "Zambie" in answer.sources[0].text
    doc = load_corpus(SEEDS).documents[0]
    assert doc.text[answer.sources[0].start : answer.sources[0].end] == answer.sources[0].text
    # The LLM got the schema with only the existing source numbers, and the question.
    schema = llm.schemas[0]
    numbers = schema["properties"]["sentences"]["items"]["properties"]["sources"]["items"]["enum"]
    assert numbers == [1, 2, 3, 4]
    assert llm.prompts[0][0]["content"].startswith("Tu réponds")


def test_wrong_citation_is_moved_to_the_passage_that_supports_it(retriever):
    def reply(messages):
        wrong = 1 if source_with(messages, "Zambie") != 1 else 2
        return json_reply(
            [{"text": "La Chine a établi un partenariat avec la Zambie.", "sources": [wrong]}]
        )

    answer = AnswerPipeline(retriever, ScriptedLLM(reply), SETTINGS).ask(
        "Avec quel pays la Chine a-t-elle établi un partenariat ?"
    )
    assert not answer.refused
    assert "Zambie" in answer.sources[0].text


def test_unsupported_sentence_is_dropped_and_nothing_left_means_refusal(retriever):
    llm = ScriptedLLM(
        json_reply([{"text": "L'action Nvidia valait 131,5 dollars.", "sources": [1]}])
    )
    answer = AnswerPipeline(retriever, llm, SETTINGS).ask("Quel était le cours de Nvidia ?")
    assert answer.refused and answer.sources == []
    assert "ne permettent pas" in answer.text


def test_model_refusal_and_english_question(retriever):
    llm = ScriptedLLM(json_reply([], answerable=False))
    answer = AnswerPipeline(retriever, llm, SETTINGS).ask("What is the share price of Nvidia?")
    assert answer.refused and answer.language == "en"
    assert llm.prompts[0][0]["content"].startswith("You answer")


def test_weak_evidence_refuses_without_calling_the_llm(retriever):
    llm = ScriptedLLM("never used")
    strict = SETTINGS.replace(min_relevance=0.99)
    answer = AnswerPipeline(retriever, llm, strict).ask("Qui a gagné la coupe du monde 2022 ?")
    assert answer.refused and llm.prompts == []


class BrokenLLM(ScriptedLLM):
    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        raise LLMError("server unreachable")
        yield  # a generator, like real backends


def test_failing_llm_falls_back_to_an_extractive_cited_answer(retriever):
    answer = AnswerPipeline(retriever, BrokenLLM(""), SETTINGS).ask(
        "Avec quel pays la Chine a-t-elle établi un partenariat ?"
    )
    assert not answer.refused and answer.sources
    assert "server unreachable" in answer.notice
    assert answer.sentences[0].sources == [1]


def test_extractive_backend_quotes_the_best_passage(retriever):
    answer = AnswerPipeline(retriever, ExtractiveLLM(), SETTINGS).ask(
        "partenariat Zambie initiative"
    )
    assert not answer.refused and "Zambie" in answer.text
    assert answer.model == "extractive" and answer.notice


def test_non_json_reply_is_parsed_as_cited_lines(retriever):
    def reply(messages):
        n = source_with(messages, "Zambie")
        return f"La Chine a établi un partenariat avec la Zambie [{n}]. Citation inventée [9]."

    answer = AnswerPipeline(retriever, ScriptedLLM(reply), SETTINGS).ask(
        "Avec quel pays la Chine a-t-elle établi un partenariat ?"
    )
    assert not answer.refused
    assert [s.sources for s in answer.sentences] == [[1]]
    assert all(s.n <= len(answer.sources) for s in answer.sources)


def test_streaming_yields_drafts_then_the_answer(retriever):
    llm = ScriptedLLM(
        lambda m: json_reply(
            [
                {
                    "text": "La Chine a établi un partenariat avec la Zambie.",
                    "sources": [source_with(m, "Zambie")],
                }
            ]
        )
    )
    events = list(
        AnswerPipeline(retriever, llm, SETTINGS).stream(
            "Avec quel pays la Chine a-t-elle établi un partenariat ?"
        )
    )
    drafts = [e.text for e in events[:-1]]
    assert len(drafts) > 3 and drafts[-1].startswith("La Chine a établi")
    assert events[-1].timings["first_token"] <= events[-1].timings["total"]
