"""Briefing notes: global citation numbers, the reference list, Markdown and Word alike."""

import re

import docx
import pytest

from rag.answering.answer import Answer, Sentence, Source
from rag.answering.briefing import render_markdown, write_briefing, write_docx
from rag.cli import main
from rag.config import Settings
from rag.errors import RagError
from rag.index import engine
from rag.service import Service

ZAMBIA = "La Chine   s'est associée\n à la Zambie."
WAIC = "La WAIC s'est tenue à Shanghai."
LI_QIANG = "Li Qiang a ouvert la conférence."


def source(n, doc_id, text, start, url="https://example.org/a"):
    title, date, chunk_id = f"Article {doc_id}", "2025-07-26", f"{doc_id}:0"
    return Source(
        n=n,
        doc_id=doc_id,
        title=title,
        date=date,
        url=url,
        chunk_id=chunk_id,
        text=text,
        start=start,
        end=start + len(text),
        score=0.9,
    )


def plain(markdown_line: str) -> str:
    """A Markdown line without its heading, list or italic markup."""
    line = re.sub(r"^(#+ |\d+\. )", "", markdown_line)
    return line[1:-1] if line.startswith("*") and line.endswith("*") else line


def answers() -> list[Answer]:
    """Two answers sharing the Zambia passage under different local numbers, then a refusal."""
    first = Answer(
        question="Avec quel pays la Chine s'est-elle associée ?",
        language="fr",
        text="Avec la Zambie [1]. La WAIC a eu lieu à Shanghai [2].",
        refused=False,
        sentences=[
            Sentence("Avec la Zambie.", [1]),
            Sentence("La WAIC a eu lieu à Shanghai.", [2]),
        ],
        sources=[source(1, "001", ZAMBIA, 10), source(2, "002", WAIC, 0, url=None)],
        model="extractive",
        notice="Mode extractif : passages cités tels quels, sans reformulation.",
    )
    second = Answer(
        question="Qui a ouvert la conférence ?",
        language="fr",
        text="Li Qiang [1][2], en présence de la Zambie [2, 1].",
        refused=False,
        sentences=[Sentence("Li Qiang, en présence de la Zambie.", [1, 2])],
        sources=[source(1, "003", LI_QIANG, 5), source(2, "001", ZAMBIA, 10)],
        model="extractive",
    )
    refused = Answer(
        question="Quel temps fera-t-il demain ?",
        language="fr",
        text="Les articles ne permettent pas de répondre à cette question.",
        refused=True,
        sentences=[],
        sources=[],
        model="extractive",
    )
    return [first, second, refused]


def test_markdown_renumbers_citations_across_the_note():
    note = render_markdown(answers(), date="2025-08-01")
    assert note.startswith("# Note de synthèse\n\n2025-08-01\n\n## Avec quel pays")
    assert "Avec la Zambie [1]. La WAIC a eu lieu à Shanghai [2]." in note
    # Local [1] (Li Qiang) becomes 3; local [2] is the Zambia passage, already number 1.
    assert "Li Qiang [3][1], en présence de la Zambie [1, 3]." in note
    assert "*Mode extractif : passages cités tels quels, sans reformulation.*" in note
    assert "## Quel temps fera-t-il demain ?\n\nLes articles ne permettent pas" in note
    references = note.split("## Références\n\n")[1].splitlines()
    assert references == [
        "1. Article 001, 2025-07-26, https://example.org/a — « La Chine s'est associée à la "
        "Zambie. »",
        "2. Article 002, 2025-07-26 — « La WAIC s'est tenue à Shanghai. »",
        "3. Article 003, 2025-07-26, https://example.org/a — « Li Qiang a ouvert la conférence. »",
    ]


def test_english_defaults_and_today():
    import datetime

    note = render_markdown(answers()[2:], language="en")
    assert note.startswith(f"# Briefing note\n\n{datetime.date.today().isoformat()}\n")
    assert "References" not in note  # a refusal cites nothing
    assert render_markdown(answers(), title="Chine et IA", language="auto").startswith(
        "# Chine et IA\n"
    )


def test_word_note_says_what_the_markdown_says(tmp_path):
    path = write_briefing(answers(), tmp_path / "note.docx", title="Chine et IA", date="2025-08-01")
    assert path == tmp_path / "note.docx"
    paragraphs = [(p.style.name, p.text) for p in docx.Document(str(path)).paragraphs]
    assert paragraphs[:2] == [("Title", "Chine et IA"), ("Normal", "2025-08-01")]
    headings = [text for style, text in paragraphs if style == "Heading 1"]
    assert headings == [a.question for a in answers()] + ["Références"]
    references = [text for style, text in paragraphs if style == "List Number"]
    assert len(references) == 3 and references[2].startswith("Article 003, 2025-07-26")
    assert ("Normal", "Li Qiang [3][1], en présence de la Zambie [1, 3].") in paragraphs
    notice = docx.Document(str(path)).paragraphs[3]
    assert notice.runs[0].italic and notice.text.startswith("Mode extractif")

    markdown = render_markdown(answers(), title="Chine et IA", date="2025-08-01")
    lines = [plain(line) for line in markdown.splitlines() if line]
    assert [text for _, text in paragraphs] == lines
    write_docx([], tmp_path / "sub" / "empty.docx")
    assert (tmp_path / "sub" / "empty.docx").is_file()


def test_markdown_file_and_bad_suffix(tmp_path):
    path = write_briefing(answers(), str(tmp_path / "note.md"), date="2025-08-01")
    assert path.read_text(encoding="utf-8") == render_markdown(answers(), date="2025-08-01")
    with pytest.raises(RagError, match=r"\.md or \.docx"):
        write_briefing(answers(), tmp_path / "note.pdf")
    assert not (tmp_path / "note.pdf").exists()


def test_cli_brief_asks_every_question_once_and_writes_the_note(
    tmp_path, seed_copy, hashing_embedder, monkeypatch, capsys
):
    index_dir = tmp_path / "index"
    settings = Settings(index_dir=str(index_dir), corpus_dir=str(seed_copy))
    engine.ingest(settings, embedder=hashing_embedder)
    built = []

    def open_service(settings, **options):
        built.append(settings)
        return real_open(settings, embedder=hashing_embedder, **options)

    real_open = Service.open
    monkeypatch.setattr(Service, "open", open_service)
    monkeypatch.setenv("RAG_CONFIG", str(tmp_path / "no-rag.toml"))
    # Hashed-word cosines are far below e5's, so the e5 relevance floor would refuse everything.
    monkeypatch.setenv("RAG_MIN_RELEVANCE", "0.1")
    questions = tmp_path / "questions.txt"
    questions.write_text("Où s'est tenue la WAIC ?\n\n  Quel temps fera-t-il demain ?\n")
    out = tmp_path / "note.md"
    argv = ["brief", str(questions), "-o", str(out), "--index-dir", str(index_dir)]
    assert main([*argv, "--llm", "extractive", "--title", "Test"]) == 0
    captured = capsys.readouterr()
    assert len(built) == 1
    assert "[1/2] Où s'est tenue la WAIC ?" in captured.err
    assert "[2/2] Quel temps fera-t-il demain ?" in captured.err
    answered, refused = map(int, re.search(r"(\d+) answered, (\d+) refused", captured.out).groups())
    assert captured.out.startswith(f"{out}: ") and answered >= 1 and answered + refused == 2
    note = out.read_text(encoding="utf-8")
    assert note.startswith("# Test\n")
    assert "## Où s'est tenue la WAIC ?" in note and "## Quel temps fera-t-il demain ?" in note
    assert "[1]" in note and "\n## Références\n\n1. " in note

    assert main(["brief", str(tmp_path / "missing.txt"), "-o", str(out)]) == 2
    assert "missing.txt" in capsys.readouterr().err
    assert main(["brief", str(questions), "-o", str(tmp_path / "note.pdf")]) == 2
    assert ".md or .docx" in capsys.readouterr().err
    assert len(built) == 1  # errors come before any model is loaded


def test_the_quoted_answer_is_bold_in_both_formats(tmp_path):
    first = answers()[0]
    first.sentences[0].quote = "Zambie"
    note = render_markdown([first], date="2025-08-01")
    assert "Avec la **Zambie** [1]. La WAIC a eu lieu à Shanghai [2]." in note
    assert "**" not in note.split("## Références")[1]  # the references quote as they are

    path = write_docx([first], tmp_path / "note.docx", date="2025-08-01")
    answer = next(p for p in docx.Document(str(path)).paragraphs if "Zambie" in p.text)
    assert answer.text == "Avec la Zambie [1]. La WAIC a eu lieu à Shanghai [2]."
    assert [run.text for run in answer.runs if run.bold] == ["Zambie"]


def test_the_confidence_is_said_in_a_word_and_a_number_in_the_note_and_the_chat():
    from dataclasses import replace

    from ui.render import chat_message

    sure = replace(answers()[0], confidence=0.934, confidence_label="sure")
    unsure = replace(answers()[1], language="en", confidence=0.412, confidence_label="unsure")
    refused = replace(answers()[2], confidence=0.1, confidence_label="unsure")
    note = render_markdown([sure, unsure, refused], date="2025-08-01")
    assert "*sûr 0,93*" in note and "*unsure 0.41*" in note
    assert "0,10" not in note and "0.10" not in note  # a refusal says no confidence
    assert "\n\n✓ *sûr 0,93*\n\n⚠" in chat_message(sure, 1)  # before the notice
    assert chat_message(unsure, 2).endswith(r"? *unsure 0\.41*")  # Markdown-escaped
    assert "0,10" not in chat_message(refused, 3)
    # Without a confidence (a backend that cannot judge), nothing is said.
    assert "sûr" not in render_markdown(answers()[:1], date="2025-08-01").split("## Réf")[0][-80:]
