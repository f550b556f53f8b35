"""The answer checks of rag.answering.verify, on sentences the bundled model really wrote."""

from rag.answering.verify import mentions_asked_names, with_answer

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


def test_the_names_a_question_asks_about_must_be_in_the_answer_or_its_article():
    question = "Quel âge avait Benazir Bhutto à sa mort ?"
    article = "Le Pakistan est un pays d'Asie du Sud. Sa capitale est Islamabad."
    assert not mentions_asked_names(question, "Elle avait 54 ans.", article)
    assert mentions_asked_names(question, "Elle avait 54 ans.", article + " Benazir Bhutto …")
    # Names found in most articles say nothing about the subject.
    assert mentions_asked_names(
        question, "Elle avait 54 ans.", article, frozenset({"bena", "bhut"})
    )
    # A translated name matches on its first letters: Zambia / Zambie.
    assert mentions_asked_names("Who is the president of Zambia?", "", "la Zambie a signé")


# --- the quote check: the model's short "answer" must be found in the passage it cites ---------

from rag.answering.verify import as_sentence, holds_quote, states_quote  # noqa: E402

LI_QIANG = (
    "Le Premier ministre chinois Li Qiang a pris la parole à Shanghai, lors de l’ouverture "
    "de la Conférence mondiale sur l’intelligence artificielle, le 26 juillet 2025."
)


def test_a_quote_is_found_folded_and_without_punctuation():
    assert holds_quote(LI_QIANG, "shanghai")
    assert holds_quote(LI_QIANG, "« Conférence mondiale sur l'intelligence artificielle »")
    assert holds_quote(LI_QIANG, "LE 26 JUILLET 2025.")
    assert not holds_quote(LI_QIANG, "Pékin")
    assert not holds_quote(LI_QIANG, "Shang")  # whole words only


def test_a_long_quote_may_differ_in_a_word_but_never_in_a_number():
    assert holds_quote(
        LI_QIANG, "ouverture de la Conférence mondiale sur intelligence artificielle"
    )
    assert not holds_quote(LI_QIANG, "le 27 juillet 2025")
    assert not holds_quote(LI_QIANG, "Li Qiang a pris la parole à Pékin lors d'un sommet")


def test_a_translated_sentence_keeps_a_quote_that_stays_in_the_source_language():
    question = "In which city did Li Qiang speak?"
    english = "Li Qiang spoke in Shanghai at the opening of the World AI Conference."
    assert states_quote(english, "Shanghai", LI_QIANG, question)
    french_date = "le 26 juillet 2025"
    assert states_quote("He spoke on 26 July 2025.", french_date, LI_QIANG, question)
    # The English sentence lost the quote's name: it does not state it.
    assert not states_quote("He spoke at a conference.", "Shanghai", LI_QIANG, question)


def test_a_sentence_adding_a_number_or_names_of_its_own_does_not_state_the_quote():
    question = "Where did Li Qiang speak?"
    invented = "Li Qiang spoke in Shanghai before 5000 people."
    assert not states_quote(invented, "Shanghai", LI_QIANG, question)
    names = "Li Qiang spoke in Shanghai with Emmanuel Macron and Olaf Scholz."
    assert not states_quote(names, "Shanghai", LI_QIANG, question)


def test_a_quote_is_shown_as_a_sentence():
    assert as_sentence(" la Zambie ") == "La Zambie."
    assert as_sentence("Shanghai.") == "Shanghai."


def test_a_translated_sentence_may_translate_the_quote_s_names_when_it_means_the_passage():
    passage = (
        "Le modèle économique basé sur la monétisation exclusive de l’IA pourrait s’effondrer."
    )
    quote = "modèle économique basé sur la monétisation exclusive de l’IA"
    question = "What business model could collapse?"
    english = "A business model based on exclusive monetisation of AI could collapse."
    assert not states_quote(english, quote, passage, question)
    assert states_quote(english, quote, passage, question, close=True)


def test_the_question_repeated_in_translation_does_not_state_the_quote():
    question = "What business model could collapse if Chinese models match American ones?"
    echo = "The business model could collapse if Chinese models match American ones."
    quote = "monétisation exclusive"
    assert not states_quote(echo, quote, "…", question, close=True)


def test_a_question_asking_for_an_amount_or_a_date_needs_a_number():
    from rag.answering.verify import has_number_if_asked

    assert not has_number_if_asked("Quel montant la Chine a-t-elle investi ?", "Elle a investi.")
    assert has_number_if_asked("Quel montant la Chine a-t-elle investi ?", "60 milliards.")
    assert has_number_if_asked("When was the plan unveiled?", "On 20 December 2024.")
    assert has_number_if_asked("Qui a dévoilé le plan ?", "Wang Yi.")


def test_counts_in_words_are_numbers_said():
    from rag.answering.verify import numbers_said

    assert numbers_said("De structure classique, en quatre mouvements.") == {"4"}
    assert numbers_said("Three of the 12 ships.") == {"3", "12"}
    assert numbers_said("Sans chiffre.") == set()


def test_the_sentence_holding_a_quote_does_not_start_with_the_previous_quotations_end():
    from rag.answering.verify import sentence_holding

    passage = "Il écrit : « Tout bien examiné, je crois. » C'est le poète Birot qui suggéra ce mot."
    assert sentence_holding("Birot", passage) == "C'est le poète Birot qui suggéra ce mot."


def test_a_sentence_taken_out_of_its_article_reads_on_its_own():
    from rag.answering.verify import readable, sentence_holding

    # It starts inside a quotation: the opening mark is given back.
    passage = "« Nous sommes prêts. Nous devrions donc unir nos forces », a-t-il dit à Shanghai."
    assert sentence_holding("Shanghai", passage) == (
        "« Nous devrions donc unir nos forces », a-t-il dit à Shanghai."
    )
    # A leading connector goes, the sentence's own words stay.
    assert readable("De plus, la Chine a établi un partenariat avec la Zambie.") == (
        "La Chine a établi un partenariat avec la Zambie."
    )
    assert readable("Moreover, China set up joint labs.") == "China set up joint labs."
    assert readable("Cependant, le plan reste flou.") == "Cependant, le plan reste flou."
    # A straight quotation mark opening the sentence is its own, not a previous one's end.
    assert readable('"Open source" est le mot clé.') == '"Open source" est le mot clé.'
