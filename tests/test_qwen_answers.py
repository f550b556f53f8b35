"""End to end with the real bundled Qwen: the seed question set, scored (slow)."""

import json

import pytest

from rag.config import Settings
from rag.eval.verdicts import judge, summarise, verdicts_to_json
from rag.index.embedders import get_embedder
from rag.service import Service
from tests.conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow

MIN_CORRECT_AND_CITED = 0.78  # measured 0.86 (24/28); the target of DESIGN.md is 0.9
MIN_REFUSED = 0.75  # measured 0.83 (10/12): the two answered lack the fact, not the subject
MIN_LANGUAGE = 0.95  # measured 1.0


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = Settings(
        index_dir=str(tmp_path_factory.mktemp("qwen") / "index"), corpus_dir=str(SEEDS)
    )
    return Service.open(settings, embedder=get_embedder(settings.embedder))


def test_seed_questions_with_the_default_model(service, questions):
    assert len(questions) >= 30
    verdicts = [judge(item, service.ask(item["question"])) for item in questions]
    summary = summarise(verdicts)
    report = ROOT / "build" / "qwen-answers.json"
    report.parent.mkdir(exist_ok=True)
    report.write_text(
        json.dumps(
            {"summary": summary, "verdicts": verdicts_to_json(verdicts)},
            indent=1,
            ensure_ascii=False,
        ),
        "utf-8",
    )
    failures = [f"{v.id}: {v.question} -> {v.answer}" for v in verdicts if not v.passed]
    print("\n".join(failures))
    # Regression floors, a little under the figures measured and reported in
    # docs/evaluation.md: two answerable questions of margin, so that one flipped answer on another
    # CPU does not fail the build while a real regression does.
    assert summary["correct_and_cited"] >= MIN_CORRECT_AND_CITED, failures
    assert summary["refused_unanswerable"] >= MIN_REFUSED, failures
    assert summary["language_match"] >= MIN_LANGUAGE, failures


def test_answer_record_is_consistent(service):
    answer = service.ask("Avec quel pays africain la Chine s'est-elle associée ?")
    assert not answer.refused
    documents = service.documents()
    for source in answer.sources:
        assert documents[source.doc_id].text[source.start : source.end] == source.text
    cited = {n for s in answer.sentences for n in s.sources}
    assert cited == {s.n for s in answer.sources}
    assert answer.model == "qwen2.5-coder-1.5b"
    assert 0 < answer.timings["first_token"] <= answer.timings["total"]


def test_a_judgement_does_not_depend_on_what_was_judged_before(service):
    from rag.answering import prompts

    passages = [
        "La Chine a établi un partenariat avec la Zambie pour le lancement de cette initiative.",
        "Les modèles américains comme GPT-4 dominent actuellement le marché.",
    ]

    def judged(question):
        asked = prompts.JUDGE_ASKED["fr"].format(question=question)
        return service.llm.judge(
            prompts.JUDGE_SYSTEM["fr"], asked, passages, prompts.JUDGE_ASK["fr"]
        )

    first = judged("Avec quel pays africain la Chine s'est-elle associée ?")
    judged("Quel est le plus long fleuve d'Afrique ?")  # the context now holds another question
    again = judged("Avec quel pays africain la Chine s'est-elle associée ?")
    # The same tokens evaluated in other batches round differently: up to 0.3 log-odds measured.
    assert again == pytest.approx(first, abs=0.5)
    assert first[0] > first[1] and again[0] > again[1]
