"""Issue 24, the server half: nobody steers the server, no question crashes it.

Models are the operator's choice (the `/ask` API and the chat take only listed names, and a
refused name reaches no network and no file), error notices name the backend and nothing
else, a failing question is one error record in a batch, wrong passwords are slowed per
client, uploads never overwrite, the upload folder goes at stop, and one answer reads one
index generation. Real sockets on 127.0.0.1, the real Gradio server where said; test doubles
(tests/conftest.py) for the embedder and the LLM.
"""

from __future__ import annotations

import io
import json

from rag import cli

# --- a failing question is one error record; the batch goes on --------------------------------


class _FailingService:
    """Answers every question but the one that says "boom", which raises like a bug would."""

    def __init__(self):
        self.asked: list[str] = []

    def ask(self, question, **options):
        from rag.answering.answer import Answer

        self.asked.append(question)
        if "boom" in question:
            raise RuntimeError("something broke")
        text = f"Réponse à {question}"
        return Answer(
            question=question,
            language="fr",
            text=text,
            refused=False,
            sentences=[],
            sources=[],
            model="extractive",
        )


def test_a_failing_question_in_a_json_batch_is_an_error_record(monkeypatch, capsys, tmp_path):
    service = _FailingService()
    monkeypatch.setattr("rag.service.Service.open", lambda *args, **kwargs: service)
    monkeypatch.setattr("sys.stdin", io.StringIO("Qui ?\nboom ?\nOù ?\n"))

    code = cli.main(["ask", "-", "--json", "--index-dir", str(tmp_path / "index")])

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["question"] for r in records] == ["Qui ?", "boom ?", "Où ?"]
    assert records[1] == {"question": "boom ?", "error": "RuntimeError: something broke"}
    assert "text" in records[0] and "text" in records[2]
    assert code == 1  # the batch went through, and says that one question failed


def test_a_failing_question_of_a_briefing_is_left_out_and_said(monkeypatch, capsys, tmp_path):
    service = _FailingService()
    monkeypatch.setattr("rag.service.Service.open", lambda *args, **kwargs: service)
    questions = tmp_path / "questions.txt"
    questions.write_text("Qui ?\nboom ?\nOù ?\n", encoding="utf-8")
    note = tmp_path / "note.md"

    code = cli.main(["brief", str(questions), "-o", str(note), "--index-dir", str(tmp_path)])

    out = capsys.readouterr()
    assert service.asked == ["Qui ?", "boom ?", "Où ?"]
    assert "[2/3] error: RuntimeError: something broke" in out.err
    assert "2 answered, 0 refused, 1 failed (left out)" in out.out
    text = note.read_text(encoding="utf-8")
    assert "Réponse à Qui ?" in text and "Réponse à Où ?" in text and "boom" not in text
    assert code == 1
