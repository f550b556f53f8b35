"""Issue 24, the ingest half: nothing altered, nothing unbounded, clear errors when the disk fills.

One test (or more) per finding: real sentences that look like share or "click here" lines
(finding 2), correct UTF-8 that looks like mojibake (3), documents that expand without bound
(4), a full disk while the new index is written (6).
"""

from __future__ import annotations

import pytest

from rag.ingest.corpus import load_text, repair_mojibake, strip_boilerplate

# --- finding 2: boilerplate -------------------------------------------------------------------

REAL_SENTENCES = [
    "Share prices fell sharply in Paris after the announcement, with the CAC 40 losing 2.3 %.",
    "Partager les risques entre États membres reste la priorité de la Banque centrale européenne.",
    "Partager un billet entre amis sera désormais interdit.",
    "Share the burden, say Italy and Spain.",
    "Partager sur les réseaux sociaux une capture d’écran de son billet expose à une annulation.",
    "Click here, it said, and pay a £1.45 redelivery fee: those who did lost their savings.",
    "« Cliquez ici pour suivre votre colis », disait le message reçu par 40 000 personnes.",
    "Lire aussi les annexes du budget permet de découvrir des mesures absentes du discours.",
    "Read more carefully, the AI Act leaves most of the work to national authorities.",
]
BOILERPLATE = [
    "Partager",
    "Partager :",
    "Share on Facebook",
    "Share this article",
    "Partager sur Facebook Partager sur X Partager par e-mail",
    "Share on Twitter | Share on LinkedIn",
    "Lire aussi : La BCE relève ses taux pour la dixième fois",
    "Lire aussi | Article réservé à nos abonnés Les dessous du budget",
    "À lire aussi : Le Kenya à l’avant-garde de la gouvernance de l’IA",
    "Read also: Wind and solar overtake gas",
    "Cliquez ici pour vous abonner à notre newsletter",
    "Click here to subscribe",
    "Tweeter",
    "Imprimer",
    "Lire la suite",
    "Read more",
    "Redirection en cours...",
    "Si vous n'êtes pas redirigé automatiquement, 👉 cliquez ici 👈",
]


@pytest.mark.parametrize("sentence", REAL_SENTENCES)
def test_a_real_sentence_that_opens_like_a_share_line_survives(sentence):
    text = f"Titre de l’article\n\n{sentence}\nUne autre phrase de l’article, assez longue."
    assert sentence in strip_boilerplate(text)
    assert sentence in load_text(text, "article").text


@pytest.mark.parametrize("line", BOILERPLATE)
def test_a_whole_short_boilerplate_line_goes(line):
    text = f"Titre de l’article\n\nPremière phrase de l’article.\n{line}\nDernière phrase."
    assert strip_boilerplate(text) == (
        "Titre de l’article\n\nPremière phrase de l’article.\nDernière phrase."
    )


def test_a_click_here_line_with_a_sentence_after_it_stays():
    line = "Cliquez ici pour vous inscrire. La liste ferme vendredi à midi."
    assert line in strip_boilerplate(f"Titre\n\n{line}\nFin.")


# --- finding 3: encoding repair ----------------------------------------------------------------

CORRECT_UTF8 = [
    "« CAFÉ»",
    "CÔTÉ–EST",
    "ICI, ON A TOUJOURS ÉTÉ…»",
    "« AU CAFÉ’ comme disait mon père »",
    "CAFÉ–TABAC–PMU",
    "DÉCRÉTÉ”",
    "Ștefan Ionescu, de Iași ; Agnieszka Wójcik, de Łódź ; Jiří Dvořák ; Şanlıurfa",
    "ÄRGER“ und MÜLLER”",
    "Република Молдовеняскэ Нистрянэ",
]


@pytest.mark.parametrize("text", CORRECT_UTF8)
def test_correct_utf8_is_left_as_it_is(text):
    assert repair_mojibake(text) == text
    assert load_text(f"Titre\n\n{text}", "article").text == f"Titre\n\n{text}"


def test_only_the_damaged_runs_are_repaired():
    text = "La coopĂ©ration du « CAFÉ» et du quartier CÔTÉ–EST est prĂȘte Ă\u00a0 dĂ©marrer. đŸ€–"
    assert repair_mojibake(text) == (
        "La coopération du « CAFÉ» et du quartier CÔTÉ–EST est prête à démarrer. 🤖"
    )


def test_a_title_that_opens_with_a_season_is_not_taken_for_a_date():
    document = load_text("2019-20: the season that never ended\n\nLiverpool won.", "season")
    assert document.text.startswith("2019-20: the season") and document.date is None
    assert load_text(" date 2024-07 Le Premier ministre a parlé.", "a").date == "2024-07"
    assert load_text("2025-03-20 09:01:00\nUne avance.", "b").text == "Une avance."
