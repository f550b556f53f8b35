"""Period and broad questions with the real bundled Qwen (slow)."""

import pytest

from rag.config import Settings
from rag.index.embedders import get_embedder
from rag.service import Service
from tests.conftest import SEEDS

pytestmark = pytest.mark.slow

JULY = "002_00b606b2294fa235"  # the seed dated 2024-07


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    settings = Settings(
        index_dir=str(tmp_path_factory.mktemp("qwen") / "index"), corpus_dir=str(SEEDS)
    )
    return Service.open(settings, embedder=get_embedder(settings.embedder))


@pytest.mark.parametrize(
    "question",
    [
        "Que disent les articles publiés en juillet 2024 ?",
        "What did the articles published in July 2024 say?",
    ],
)
def test_the_july_2024_question_gets_a_cited_summary_of_the_july_article(service, question):
    answer = service.ask(question)
    assert not answer.refused and len(answer.sentences) >= 2
    assert {s.doc_id for s in answer.sources} == {JULY}
    assert all(s.sources for s in answer.sentences)
    assert answer.period["since"] == "2024-07-01" and answer.period["until"] == "2024-07-31"


def test_a_broad_question_cites_several_articles(service):
    answer = service.ask("Résume ce que disent les articles sur la gouvernance mondiale de l'IA.")
    assert not answer.refused and len({s.doc_id for s in answer.sources}) >= 2
    assert all(s.sources for s in answer.sentences)


def test_the_model_judges_which_passage_answers(service):
    """`LLM.judge` with the bundled Qwen: the passage that answers gets the higher log-odds,
    and the context then still answers with its warmed prefixes."""
    from rag.answering import prompts

    answers = "La Chine a établi un partenariat avec la Zambie pour lancer cette initiative."
    other = "Les modèles américains dominent actuellement le marché de l'intelligence artificielle."
    question = "Avec quel pays africain la Chine s'est-elle associée ?"
    odds = service.llm.judge(
        prompts.JUDGE_SYSTEM["fr"],
        prompts.JUDGE_ASKED["fr"].format(question=question),
        [other, answers],
        prompts.JUDGE_ASK["fr"],
    )
    assert len(odds) == 2 and odds[1] > odds[0]
    assert "Zambie" in service.ask(question, factual_answers="judged").text
