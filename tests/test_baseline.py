"""The llama-index baseline: its reply becomes an `Answer` with citations and a refusal flag."""

from __future__ import annotations

import re

from conftest import ScriptedLLM

from rag.config import Settings
from rag.eval.baseline import build_baseline
from rag.eval.verdicts import judge

WANG_YI = "Qui a lancé le plan chinois sur l'IA lors d'une réunion aux Nations Unies ?"
NVIDIA = "Quel était le cours de l'action Nvidia à la fin de 2024 ?"
WORLD_CUP = "Qui a gagné la Coupe du monde de football 2022 ?"


def shown_sources(prompt: str) -> list[tuple[int, str]]:
    """The numbered passages of the default citation prompt, after its worked example."""
    context = prompt.split("\n------\n")[1]
    return [
        (int(n), text.strip())
        for n, text in re.findall(r"Source (\d+):\n(.*?)(?=Source \d+:\n|$)", context, re.S)
    ]


def reply(messages) -> str:
    """Cites the last passage shown, quoting its first words; refuses or cites a missing source."""
    prompt = messages[-1]["content"]
    query = re.findall(r"Query: (.*)\nAnswer:", prompt)[-1]  # after the worked example
    if query == NVIDIA:
        return "Aucune des sources ne donne le cours de l'action Nvidia [1]."
    if query == WORLD_CUP:
        return "L'Argentine a gagné [9]."
    number, text = shown_sources(prompt)[-1]
    return f"Selon la source, {' '.join(text.split()[:6])} [{number}]."


def test_baseline_maps_citations_and_refusals(seed_copy, hashing_embedder, questions):
    llm = ScriptedLLM(reply)
    baseline = build_baseline(seed_copy, hashing_embedder, llm, Settings(), llm_context=8192)

    answer = baseline.ask(WANG_YI)
    number, shown = shown_sources(llm.prompts[0][-1]["content"])[-1]
    assert number >= 2  # so that an off-by-one between marks and passages shows
    assert not answer.refused
    assert answer.text == reply(llm.prompts[0])
    assert [(s.n, s.text) for s in answer.sources] == [(number, shown)]
    source = answer.sources[0]
    document = baseline.documents[source.doc_id]  # the passage lies in the article it names
    assert source.start >= 0 and document.text[source.start : source.end] == source.text
    assert answer.sentences[0].sources == [number]
    assert answer.language == "fr"
    default_prompt = "Please provide an answer based solely on the provided sources"
    assert default_prompt in llm.prompts[0][-1]["content"]

    refusal = baseline.ask(NVIDIA)  # a refusal phrase decides, though a source is cited
    assert refusal.refused and [s.n for s in refusal.sources] == [1]
    assert "Aucune des sources" in refusal.notice
    item = next(q for q in questions if q["question"] == NVIDIA)
    assert judge(item, refusal).passed

    unknown_source = baseline.ask(WORLD_CUP)  # [9] names no source shown to the model
    assert unknown_source.refused and unknown_source.sources == []
    assert unknown_source.timings["total"] >= unknown_source.timings["first_token"] > 0
