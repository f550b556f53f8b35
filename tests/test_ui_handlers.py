"""The browser chat's handlers and its `/ask` API, on a fake service passed in (fast, no browser).

The fake answers from its articles: it cites the article that shares a word with the question
and refuses when none does, so a handler that loses the question, the model or the article
text fails these tests. The real service in a real browser is tests/test_browser.py.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from rag.answering.answer import Answer, Draft, Sentence, Source
from rag.answering.periods import Filters
from rag.config import Settings
from rag.ingest.corpus import Skipped
from tests.conftest import served
from ui import handlers
from ui.labels import ADD_TO_BRIEFING
from ui.render import plain

ZAMBIA = "La Chine s'est associée à la Zambie pour son plan d'intelligence artificielle."
WAIC = "La WAIC s'est tenue à Shanghai en juillet 2025."


def article(doc_id: str, title: str, text: str, date: str | None = None):
    return SimpleNamespace(
        doc_id=doc_id, title=title, text=text, date=date, url=None, language="fr", path=doc_id
    )


class FakeService:
    """Answers from its articles by shared words; records what the handlers ask of it."""

    def __init__(self, model: str = "fake-default"):
        self.settings = Settings()
        self.llm = SimpleNamespace(name=model)
        self.articles = {
            "zambie": article("zambie", "Partenariat avec la Zambie", ZAMBIA, "2024-12-20"),
            "waic": article("waic", "La WAIC à Shanghai", WAIC, "2025-07-26"),
        }
        self.calls: list[dict] = []

    def with_llm(self, name):
        if not name or name == self.llm.name:
            return self
        other = FakeService(name)
        other.articles, other.calls = self.articles, self.calls
        return other

    def llm_choices(self):
        return [self.llm.name, "extractive"]

    def warming(self):
        return False

    def documents(self):
        return self.articles

    def stream(self, question, **options):
        self.calls.append({"question": question, "model": self.llm.name, **options})
        answer = self._answer(question)
        words = answer.text.split()
        for end in range(1, len(words)):
            yield Draft(" ".join(words[:end]))
        yield answer

    def ask(self, question, **options):
        return [e for e in self.stream(question, **options) if isinstance(e, Answer)][-1]

    def chunk_counts(self):
        return {doc_id: 1 for doc_id in self.articles}

    def add_articles(self, paths):
        added, refused = [], []
        for path in map(Path, paths):
            if path.suffix != ".txt":
                refused.append(Skipped(path.name, f"{path.name}: only .txt articles are taken."))
                continue
            text = path.read_text(encoding="utf-8")
            self.articles[path.stem] = article(path.stem, text.splitlines()[0], text)
            added.append(path.stem)
        return added, refused

    def _answer(self, question):
        asked = {w for w in re.findall(r"\w{4,}", question.lower())}
        for doc in self.articles.values():
            if asked & set(re.findall(r"\w{4,}", doc.text.lower())):
                source = Source(
                    n=1,
                    doc_id=doc.doc_id,
                    title=doc.title,
                    date=doc.date,
                    url=None,
                    chunk_id=f"{doc.doc_id}#0",
                    text=doc.text,
                    start=0,
                    end=len(doc.text),
                    score=0.9,
                )
                text = f"{doc.text} [1]"
                return Answer(
                    question=question,
                    language="fr",
                    text=text,
                    refused=False,
                    sentences=[Sentence(doc.text, [1])],
                    sources=[source],
                    model=self.llm.name,
                )
        return Answer(
            question=question,
            language="fr",
            text="Les articles ne répondent pas à cette question.",
            refused=True,
            sentences=[],
            sources=[],
            model=self.llm.name,
        )


def chat(service, message, history=None, answers=None, model="", language="auto"):
    """Every update the handler yields, as Gradio sent it (the handler reuses its lists)."""
    updates = handlers.respond(service, message, history, answers, model, language, 3, 0.2)
    return [copy.deepcopy(update) for update in updates]


def test_an_answer_streams_into_the_chat_with_citations_that_open_their_passage():
    service = FakeService()
    updates = chat(service, "Avec quel pays africain la Chine s'est-elle associée ?")

    drafts = [history[-1]["content"] for history, *_ in updates[:-1]]
    assert len(drafts) >= 3 and all(d.endswith(" …") for d in drafts)
    history, answers, sources, box = updates[-1]
    question = "Avec quel pays africain la Chine s'est-elle associée ?"
    assert box == "" and history[0] == {"role": "user", "content": plain(question)}
    assert "Zambie" in history[1]["content"] and "(#cite-1-1)" in history[1]["content"]
    assert answers[1]["sources"][0]["doc_id"] == "zambie"
    assert "id='cite-1-1'" in sources and "<mark>" + ZAMBIA.replace("'", "&#x27;") in sources
    assert service.calls == [
        {
            "question": "Avec quel pays africain la Chine s'est-elle associée ?",
            "model": "fake-default",
            "language": "auto",
            "top_k": 3,
            "temperature": 0.2,
            "previous": [],
            "filters": Filters(),
        }
    ]


def test_a_follow_up_gets_the_earlier_questions_and_another_model_on_request():
    service = FakeService()
    history, answers, *_ = chat(service, "Où s'est tenue la WAIC ?")[-1]
    history, answers, sources, _ = chat(service, "Et quand ?", history, answers, "extractive")[-1]
    assert service.calls[-1]["previous"] == ["Où s'est tenue la WAIC ?"]
    assert service.calls[-1]["model"] == "extractive"
    assert len(history) == 4 and history[-1]["content"].startswith("ⓘ")  # a refusal
    assert "id='answer-3'" in sources and "id='answer-1' style='display:none'" in sources


def test_an_empty_message_asks_nothing():
    service = FakeService()
    [(history, answers, _, box)] = chat(service, "   ")
    assert history == [] and answers == {} and box == "   " and service.calls == []


def test_answers_go_into_the_briefing_once_and_are_downloadable():
    service, files = FakeService(), handlers.BriefingFiles()
    _, answers, *_ = chat(service, "Avec quel pays africain la Chine s'est-elle associée ?")[-1]

    note, preview, markdown, word = handlers.on_feedback(files, [], answers, ADD_TO_BRIEFING, 1)
    assert len(note) == 1 and "Zambie" in preview
    assert Path(markdown["value"]).read_text(encoding="utf-8").startswith("# Note de synthèse")
    assert Path(word["value"]).suffix == ".docx" and markdown["interactive"]

    note, *_ = handlers.add_last(files, note, answers)  # the same answer is not added twice
    assert len(note) == 1
    note, *_ = handlers.on_feedback(files, note, answers, "Like", 1)  # other feedback: no change
    assert len(note) == 1
    note, preview, markdown, _ = handlers.clear_briefing(files)
    assert note == [] and markdown["value"] is None and not markdown["interactive"]


def test_uploads_say_what_was_added_and_why_a_file_was_refused(tmp_path):
    service = FakeService()
    good = tmp_path / "brest.txt"
    good.write_text("Kerguelen ouvre à Brest\n\nLe supercalculateur Kerguelen.", encoding="utf-8")
    bad = tmp_path / "<b>photo.png"
    bad.write_bytes(b"\x89PNG")

    status, corpus = handlers.upload(service, [str(good), SimpleNamespace(name=str(bad))])

    assert status.splitlines()[0] == "✅ brest"
    # The reason is shown as text: Markdown and HTML in a file name are escaped.
    assert status.splitlines()[-1] == "❌ &lt;b&gt;photo\\.png\\: only \\.txt articles are taken\\."
    newest_first = ["La WAIC à Shanghai", "Partenariat avec la Zambie", "Kerguelen ouvre à Brest"]
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td>", corpus)
    assert [title for title, _ in rows] == newest_first
    assert rows[0][1] == "2025-07-26" and rows[-1][1] == "—"  # no date
    assert "data-month='2025-07'" in corpus  # the timeline runs to the newest month
    answer = handlers.ask(service, "Qui a ouvert le supercalculateur Kerguelen ?")
    assert answer["sources"][0]["doc_id"] == "brest"
    nothing, _ = handlers.upload(service, [])
    assert nothing.key == "upload_nothing"


def test_an_upload_that_cannot_be_indexed_says_why_and_keeps_the_corpus(tmp_path):
    from rag.errors import IndexStoreError

    service = FakeService()
    before = handlers.corpus_summary(service)

    def full_disk(paths):
        raise IndexStoreError(
            "No space left on device while writing the new index: free some space."
        )

    service.add_articles = full_disk
    article = tmp_path / "brest.txt"
    article.write_text(
        "Kerguelen ouvre à Brest\n\nLe supercalculateur Kerguelen.", encoding="utf-8"
    )
    status, corpus = handlers.upload(service, [str(article)])
    assert status.startswith("❌ No space left on device") and "free some space" in status
    assert corpus == before


def test_the_ask_handler_takes_an_optional_model():
    service = FakeService()
    record = handlers.ask(service, "Où s'est tenue la WAIC ?")
    assert record["model"] == "fake-default" and "Shanghai" in record["text"]
    assert handlers.ask(service, "Où s'est tenue la WAIC ?", "")["model"] == "fake-default"
    assert handlers.ask(service, "Où s'est tenue la WAIC ?", "extractive")["model"] == "extractive"


def test_the_ask_api_takes_the_question_alone():
    from gradio_client import Client

    from ui.app import build_app

    service = FakeService()
    with served(build_app(service)) as url:
        client = Client(url, verbose=False)
        record = client.predict("Où s'est tenue la WAIC ?", api_name="/ask")
        assert record["model"] == "fake-default" and "Shanghai" in record["text"]
        assert service.calls[-1]["filters"] == Filters()
        record = client.predict("Où s'est tenue la WAIC ?", "extractive", api_name="/ask")
        assert record["model"] == "extractive"
        client.predict("Où s'est tenue la WAIC ?", "", "2025-07", api_name="/ask")
        assert service.calls[-1]["filters"] == Filters.explicit("2025-07")


def test_the_chat_filters_go_to_the_service_and_a_bad_date_is_said_in_the_chat():
    service = FakeService()
    updates = handlers.respond(
        service, "Où s'est tenue la WAIC ?", [], {}, "", "auto", 3, 0.2, "2025", "2025-07", "waic"
    )
    list(updates)
    assert service.calls[-1]["filters"] == Filters.explicit("2025", "2025-07", "waic")
    [(history, answers, _, box)] = handlers.respond(
        service, "Où ?", [], {}, "", "auto", 3, 0.2, "juillet", "", ""
    )
    assert "is not a date" in history[-1]["content"] and box == "Où ?" and answers == {}
    assert len(service.calls) == 1  # the bad date asked nothing
    assert handlers.set_period("2025-03", "2025-03") == ("2025-03", "2025-03")
    assert handlers.set_period() == ("", "")
    assert handlers.on_month("2024-12") == ("2024-12-01", "2024-12-31")  # a timeline click
    assert handlers.on_month("") == (gr.update(), gr.update())


def test_the_ask_api_takes_optional_filters():
    service = FakeService()
    handlers.ask(service, "Où s'est tenue la WAIC ?", None, "2025-07", None, "waic")
    assert service.calls[-1]["filters"] == Filters.explicit("2025-07", None, "waic")
    handlers.ask(service, "Où s'est tenue la WAIC ?")
    assert service.calls[-1]["filters"] == Filters()
