"""The real app in headless Chromium, with the bundled Qwen (slow).

Debian's chromium is driven by Playwright; Playwright never downloads a browser of its own.
The test run also takes the screenshots of the README and docs/ (docs/screenshots/).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import docx
import pytest
from playwright import sync_api

from rag.config import Settings
from rag.service import Service
from tests.conftest import ROOT, SEEDS, served, tiny_pdf
from ui.app import SEED_EXAMPLES, build_app

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "docs" / "screenshots"
WAIT_MS = 120_000  # one answer from the 1.5B model on a busy 2-core CPU, with room to spare
ANSWER = "#chat .bot-row .message-content"
COMPANIES = "Quelles entreprises mènent les avancées chinoises en intelligence artificielle ?"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    settings = Settings(index_dir=str(tmp_path_factory.mktemp("index")), corpus_dir=str(SEEDS))
    with served(build_app(Service.open(settings), SEED_EXAMPLES)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), "install Debian's chromium: apt-get install chromium"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


def open_page(browser, url: str, locale: str):
    page = browser.new_page(locale=locale, viewport={"width": 1400, "height": 950})
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.wait_for_selector("#question textarea")
    return page


def ask(page, question: str) -> list[str]:
    """Ask, then return every text the answer showed while it was written, the last one final."""
    turns = page.locator(ANSWER).count()
    page.fill("#question textarea", question)
    page.click("#send")
    seen: list[str] = []
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:  # bounded: one answer
        answers = page.locator(ANSWER)
        if answers.count() > turns:
            text = answers.last.inner_text()
            if not seen or seen[-1] != text:
                seen.append(text)
            if not text.endswith("…"):  # drafts end with "…"; the verified answer does not
                return seen
        time.sleep(0.1)
    raise AssertionError(f"no answer to {question!r} within {WAIT_MS} ms; saw {seen[-1:]}")


def test_french_question_gets_a_cited_answer_whose_citation_opens_the_passage(browser, app_url):
    page = open_page(browser, app_url, "fr-FR")
    page.get_by_role("button", name="Envoyer").wait_for()  # French labels (set after load)
    shown = ask(page, "Avec quel pays africain la Chine s'est-elle associée ?")
    assert "Zambie" in shown[-1]
    assert "sûr" in shown[-1] or "incertain" in shown[-1]  # how sure, in a word and a number
    citation = page.locator(f"{ANSWER} a[href*='#cite-']").first
    assert citation.inner_text().startswith("[")
    citation.click()
    card = page.locator(".source-card.active")
    card.wait_for()
    assert "Zambie" in card.locator("mark").inner_text()
    assert card.locator(".date").inner_text() == "2024-12-20"
    assert card.is_visible() and card.locator("mark").is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "chat-citation.png"))

    # A follow-up is understood with the question it follows.
    ask(page, "Et pourquoi ?")
    question = page.locator(".answer-sources:visible .question").inner_text()
    assert "Zambie" in question or "pays africain" in question
    page.close()


def test_english_question_streams_an_english_answer_and_refusals_look_like_refusals(
    browser, app_url
):
    page = open_page(browser, app_url, "en-US")
    page.get_by_role("button", name="Send").wait_for()  # English labels (set after load)
    shown = ask(page, "Which African country did China partner with for its AI plan?")
    assert len(shown) >= 2, f"the translated answer was not streamed: {shown}"
    answer = shown[-1]
    assert "Zambia" in answer
    assert page.locator(f"{ANSWER} a[href*='#cite-']").count() >= 1
    refusal = ask(page, "Who won the 2022 football World Cup?")[-1]
    assert refusal.startswith("ⓘ") and "do not answer" in refusal
    assert page.locator(f"{ANSWER}").last.locator("a").count() == 0
    page.close()


def test_switching_to_extractive_answers_without_the_model(browser, app_url):
    page = open_page(browser, app_url, "en-US")
    page.click("#settings")
    page.click("#model input")
    page.get_by_role("option", name="extractive").click()
    answer = ask(page, "Avec quel pays africain la Chine s'est-elle associée ?")[-1]
    assert "Extractive mode" in answer or "Mode extractif" in answer
    assert "Zambie" in answer
    assert page.locator(f"{ANSWER} a[href*='#cite-']").count() >= 1
    page.close()


def test_answers_go_into_a_briefing_downloaded_as_markdown_and_word(browser, app_url, tmp_path):
    page = open_page(browser, app_url, "fr-FR")
    ask(page, "Avec quel pays africain la Chine s'est-elle associée ?")
    page.locator("#chat button[aria-label='Feedback']").last.click()
    page.get_by_text("Ajouter à la note / Add to briefing").last.click()
    ask(page, COMPANIES)
    page.click("#tab-briefing-button")
    page.click("#add-last")
    preview = page.locator("#briefing-preview")
    page.wait_for_function(
        "() => document.querySelector('#briefing-preview').innerText.includes('Alibaba')"
    )
    assert "Avec quel pays africain" in preview.inner_text()
    page.screenshot(path=str(SHOTS / "briefing.png"))

    with page.expect_download() as download:
        page.click("#download-md")
    note = tmp_path / "note.md"
    download.value.save_as(note)
    markdown = note.read_text(encoding="utf-8")
    assert markdown.startswith("# Note de synthèse")
    assert "## Avec quel pays africain la Chine s'est-elle associée ?" in markdown
    assert f"## {COMPANIES}" in markdown
    assert "## Références" in markdown and "[1]" in markdown and "\n1. " in markdown
    assert "Zambie" in markdown.split("## Références")[1]

    with page.expect_download() as download:
        page.click("#download-docx")
    word = docx.Document(io.BytesIO(Path(download.value.path()).read_bytes()))
    paragraphs = [p.text for p in word.paragraphs]
    assert "Note de synthèse" in paragraphs and "Références" in paragraphs
    assert any("Alibaba" in p for p in paragraphs)
    assert any("Zambie" in p for p in paragraphs[paragraphs.index("Références") :])
    page.close()


ARTICLE = """Brest inaugure le supercalculateur Kerguelen
Publié le 12 mars 2025

La ville de Brest a inauguré le 11 mars 2025 un supercalculateur baptisé Kerguelen, consacré \
à l'océanographie. Le projet a coûté 48 millions d'euros, financés par la région Bretagne.
"""


def test_an_uploaded_article_is_indexed_and_cited(browser, app_url, tmp_path):
    good = tmp_path / "kerguelen.txt"
    good.write_text(ARTICLE, encoding="utf-8")
    bad = tmp_path / "broken.html"
    bad.write_bytes(b"\x00\x01\x02PNG\x00" * 50)
    page = open_page(browser, app_url, "fr-FR")
    page.click("#tab-articles-button")
    page.set_input_files("#upload input[type=file]", [str(good), str(bad)])
    page.click("#index-files")
    status = page.locator("#upload-status")
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('kerguelen')"
    )
    assert "broken.html" in status.inner_text()  # refused, with its reason
    assert "Kerguelen" in page.locator("#corpus").inner_text()
    answer = ask(page, "Comment s'appelle le supercalculateur inauguré à Brest ?")[-1]
    assert "Kerguelen" in answer
    page.locator(f"{ANSWER} a[href*='#cite-']").last.click()
    assert "kerguelen" in page.locator(".source-card.active").inner_text().lower()
    page.close()


def test_a_month_on_the_timeline_filters_the_chat_to_that_month(browser, app_url):
    page = open_page(browser, app_url, "fr-FR")
    page.click("#tab-articles-button")
    page.locator(".timeline-bar[data-month='2024-12']").click()
    page.wait_for_function(
        "() => document.querySelector('#filter-since input, #filter-since textarea')"
        ".value === '2024-12-01'"
    )
    assert page.locator("#filter-until input, #filter-until textarea").input_value() == "2024-12-31"
    page.screenshot(path=str(SHOTS / "timeline.png"))
    answer = ask(page, "Avec quel pays africain la Chine s'est-elle associée ?")[-1]
    assert "Zambie" in answer
    dates = page.locator("#sources-panel .source-card .date")  # this page asked once
    assert dates.count() >= 1
    assert all(text.startswith("2024-12") for text in dates.all_inner_texts())
    page.close()


def test_an_uploaded_pdf_is_cited_with_its_page(browser, app_url, tmp_path):
    pdf = tmp_path / "lorient.pdf"
    pdf.write_bytes(
        tiny_pdf(
            [
                [
                    "Lorient ouvre un centre de recherche sur les algues.",
                    "Le centre a été inauguré le 3 février 2025 à Lorient, en Bretagne.",
                    "Il étudie les algues vertes du littoral.",
                ],
                [
                    "Le centre emploie 37 chercheurs venus de toute l'Europe.",
                    "Son budget annuel atteint 5 millions d'euros.",
                ],
            ],
            title="Lorient ouvre un centre de recherche sur les algues",
        )
    )
    page = open_page(browser, app_url, "fr-FR")
    page.click("#tab-articles-button")
    page.set_input_files("#upload input[type=file]", [str(pdf)])
    page.click("#index-files")
    page.wait_for_function(
        "() => document.querySelector('#upload-status').innerText.includes('lorient')"
    )
    answer = ask(page, "Combien de chercheurs emploie le centre de Lorient ?")[-1]
    assert "37" in answer
    page.locator(f"{ANSWER} a[href*='#cite-']").last.click()
    card = page.locator(".source-card.active").inner_text()
    assert "37 chercheurs" in card and "p. 2" in card
    page.close()
