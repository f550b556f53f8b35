"""The answer checks of rag.verify, on sentences the bundled model really wrote."""

from rag.verify import answers_kind, expected_kind, with_answer

PASSAGES = (
    "Ces développements sont d’une importance stratégique, où l’IA pourrait devenir une arme "
    "incontournable dans la guerre froide technologique qui se profile.",
    "Cette coopération pourrait également établir des standards de sécurité globaux pour l’IA.",
)


def test_a_sentence_copied_from_a_passage_without_the_answer_is_replaced_by_the_answer():
    copied = "Cette coopération pourrait établir des standards de sécurité globaux pour l’IA."
    assert with_answer(copied, "guerre froide technologique", PASSAGES) == (
        "Guerre froide technologique."
    )


def test_sentences_that_state_or_translate_the_answer_are_kept():
    stated = "L’IA pourrait devenir une arme dans la guerre froide technologique."
    translated = "AI could become a weapon in the technological cold war."
    for sentence in (stated, translated):
        assert with_answer(sentence, "guerre froide technologique", PASSAGES) == sentence


def test_a_name_missing_from_the_sentence_is_appended():
    assert with_answer("La Chine a signé un partenariat.", "la Zambie") == (
        "La Chine a signé un partenariat : la Zambie."
    )


def test_answer_kind_wants_a_number_or_a_new_name():
    assert expected_kind("Quand le plan a-t-il été dévoilé ?") == "number"
    assert expected_kind("Which country does China threaten?") == "name"
    assert not answers_kind("Quand le plan a-t-il été dévoilé ?", "Le plan a été dévoilé.")
    assert answers_kind("Quand le plan a-t-il été dévoilé ?", "Il a été dévoilé le 26 juillet.")
    assert not answers_kind("Which country does China threaten?", "China threatens a country.")
    assert answers_kind("Which country does China threaten?", "China threatens Taiwan.")
