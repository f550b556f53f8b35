"""Question checks: nothing to search for is refused, a too-long question is cut with a notice."""

import pytest

from rag.answering.questions import DEFAULT_MAX_QUESTION_CHARS, check_question, content_words


@pytest.mark.parametrize(
    "question", ["???", "", "   ", "Et ?", "why?", "Qui ? Quoi ?", "a b c", "...!!!", "\x00\x01"]
)
def test_a_question_without_content_words_is_refused(question):
    for language in ("fr", "en"):
        check = check_question(question, language=language)
        assert check.refuse and check.notice, question
    assert "aucun mot" in check_question(question, language="fr").notice
    assert "no words" in check_question(question, language="en").notice


@pytest.mark.parametrize(
    "question",
    [
        "Qui est Wang Yi ?",
        "Zambie ?",
        "What happened in 2024?",
        "Avec quel pays africain la Chine s'est-elle associée ?",
        "Who unveiled the plan at the United Nations?",
        "李强是谁？",
    ],
)
def test_ordinary_questions_pass_unchanged(question):
    check = check_question(question, language="fr")
    assert not check.refuse and check.notice is None
    assert check.text == question


def test_a_long_question_is_cut_at_a_word_with_a_notice():
    question = "Pourquoi la Chine a-t-elle choisi la Zambie " * 500  # 22,000 characters
    check = check_question(question, max_chars=1000, language="fr")
    assert not check.refuse
    assert 800 <= len(check.text) <= 1000
    assert question.startswith(check.text) and question[len(check.text)] == " "
    assert check.notice == (
        "Question trop longue : seuls ses 1000 premiers caractères ont été pris en compte."
    )
    english = check_question("word " * 400, max_chars=100, language="en")
    assert english.notice == "The question was too long: only its first 100 characters were used."
    assert check_question("x" * 5000, max_chars=100).text == "x" * 100  # no space to cut at


def test_spaces_and_control_characters_are_normalised():
    check = check_question("  Qui\test\n\x00Wang   Yi ?  ")
    assert check.text == "Qui est Wang Yi ?" and not check.refuse


def test_defaults():
    assert DEFAULT_MAX_QUESTION_CHARS == 1000
    assert check_question("Where is the WAIC held?").notice is None
    assert content_words("Où s'est tenue la WAIC ?") == ["tenue", "waic"]
