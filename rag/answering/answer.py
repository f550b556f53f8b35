"""The cited-answer pipeline and the `Answer` record shared by the CLI, the UI and briefings."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

from rag.answering import prompts, summaries
from rag.answering.confidence import Confidence, judged_count
from rag.answering.confidence import for_model as confidence_for_model
from rag.answering.confidence import measures as confidence_measures
from rag.answering.conversation import standalone_question
from rag.answering.decisions import quoted
from rag.answering.periods import Filters, Period, newest_date, parse_period, without_period
from rag.answering.questions import check_question
from rag.answering.retrieval import Evidence, Retrieval, Retriever
from rag.answering.summaries import summary_kind
from rag.answering.verify import (
    SUPPORT_COSINE,
    as_sentence,
    common_keys,
    has_number_if_asked,
    mentions_asked_names,
    numbers,
    numbers_said,
    quote_holders,
    quote_in,
    sentence_holding,
    states_quote,
    supporting_sources,
    with_answer,
)
from rag.backends.llms import LLM
from rag.config import Settings
from rag.errors import LLMError
from rag.text import detect_language, majority_language

log = logging.getLogger(__name__)

# When the model grounds its answer in another article than the best passage's, in a passage
# whose cosine is this far below the best one, the ranking is trusted over the model's choice:
# the best passage is quoted instead (same language only); a passage of the best passage's own
# article stands (docs/decisions/2026-11-28-ranking-margin.md).
RANKING_MARGIN = 0.05


@dataclass(kw_only=True)
class Source:
    """A cited passage: `n` is the number used in the answer text."""

    n: int
    doc_id: str
    title: str
    date: str | None
    url: str | None
    chunk_id: str
    text: str
    start: int
    end: int
    score: float
    page: int | None = None  # the page of a PDF article the passage starts on


@dataclass
class Sentence:
    text: str
    sources: list[int]
    # The model's short answer as the sentence writes it ("Zambie" in "La Chine a établi un
    # partenariat avec la Zambie…"), for the UI to stand it out; None when there is none.
    quote: str | None = None


@dataclass(kw_only=True)
class Answer:
    """One answered (or refused) question, with its citations and timings."""

    question: str
    language: str
    text: str
    refused: bool
    sentences: list[Sentence]
    sources: list[Source]
    model: str
    timings: dict[str, float | None] = field(default_factory=dict)
    notice: str | None = None
    # The period the answer drew on ({"since", "until", "from": "question" | "filter"}) and the
    # source filter; None when the whole corpus was searched.
    period: dict | None = None
    source_filter: str | None = None
    # The probability that a factual answer is right, and "sure" or "unsure" (see
    # rag.answering.confidence); None when the model could not judge its passages.
    confidence: float | None = None
    confidence_label: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, record: dict) -> Answer:
        """The inverse of `to_dict` (the UI keeps answers as plain records)."""
        values = dict(record)
        values["sentences"] = [Sentence(**s) for s in record["sentences"]]
        values["sources"] = [Source(**s) for s in record["sources"]]
        return cls(**values)


@dataclass
class Draft:
    """A streaming update: the answer text as far as the model has written it."""

    text: str


class AnswerPipeline:
    """Question in, verified cited `Answer` out. The LLM is swappable per call.

    `llm` is the default backend; None when every call names its own (as `rag.service` does).
    """

    def __init__(
        self,
        retriever: Retriever,
        llm: LLM | None,
        settings: Settings,
        confidence: Confidence | None = None,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.settings = settings
        self._confidence = confidence  # see `confidence_for`
        self._confidences: dict[str, Confidence | None] = {}  # by backend name
        self._common: frozenset[str] = frozenset()  # see `_common_words`
        self._common_for: object | None = None  # the index `_common` was computed for
        self._majority = "fr"  # see `_corpus_language`
        self._language_for: object | None = None
        self._dates: tuple[str, str] | None = None  # see `_date_span`
        self._dates_for: object | None = None
        self._everywhere: frozenset[str] = frozenset()  # see `_everywhere_words`
        self._everywhere_for: object | None = None

    def ask(self, question: str, **options) -> Answer:
        """Answer one question (the last event of `stream`)."""
        for event in self.stream(question, **options):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream() always ends with an Answer")

    def stream(
        self,
        question: str,
        llm: LLM | None = None,
        language: str | None = None,
        settings: Settings | None = None,
        previous: list[str] | None = None,
        filters: Filters | None = None,
    ) -> Iterator[Draft | Answer]:
        """Yield `Draft`s while the model writes, then the verified `Answer`.

        `previous` holds the conversation's earlier questions: a follow-up such as
        "et pourquoi ?" is answered as the question it follows (see `rag.answering.conversation`).
        `filters` (a period, a source) restrict the articles; without a period, the one the
        question names, if any, is used (see `resolve_filters`).
        """
        question = standalone_question(question, previous)
        settings = settings or self.settings
        llm = llm or self.llm
        started = time.perf_counter()
        asked_in = self._language(question)  # the question's own language
        requested = language or settings.language
        language = requested if requested in ("fr", "en") else asked_in  # the answer's
        check = check_question(question, settings.max_question_chars, language)
        question = check.text
        timings = {"retrieve": None, "first_token": None, "total": None}

        filters = self.resolve_filters(question, filters)
        period = filters.period

        def finish(answer: Answer) -> Answer:
            answer.period = period.to_dict() if period is not None else None
            answer.source_filter = filters.source
            answer.timings["total"] = time.perf_counter() - started
            if answer.timings["first_token"] is None:
                answer.timings["first_token"] = answer.timings["total"]
            if check.notice and answer.notice != check.notice:
                # A question cut to its first characters says so, whatever else is noticed.
                answer.notice = " ".join(filter(None, [check.notice, answer.notice]))
            return answer

        # Refused at once, without retrieval or the model: "???" or "et ?" (nothing to look
        # for), or filters that leave no article (that is said, with the corpus's date span).
        empty = None if check.refuse else self._empty_filters(filters, language)
        if check.refuse or empty:
            builder = _Builder(
                question=question,
                language=language,
                model=llm.name,
                timings=timings,
                evidence=[],
                common=frozenset(),
            )
            yield finish(builder.refusal(text=empty))
            return
        kind = summary_kind(question, period, self._everywhere_words)
        if kind is not None:
            summary = self._summary(kind, question, language, asked_in, llm, settings, filters)
            yield from (e if isinstance(e, Draft) else finish(e) for e in summary)
            return
        # With cross_language_answers = "translated", a question in another language than the
        # articles' is searched and judged in theirs (what the ranker and the confidence were
        # trained on); the quote is translated back (see `judged`).
        searched, searched_in = question, asked_in
        if (
            settings.factual_answers == "judged"
            and settings.cross_language_answers == "translated"
            and self.confidence_for(llm) is not None
        ):
            translated = self._in_corpus_language(question, asked_in, llm)
            if translated is not None:
                searched, searched_in = translated, self._corpus_language()
        retrieval = self.retrieve(searched, settings, filters, searched_in)
        timings["retrieve"] = retrieval.seconds
        builder = self._builder(
            question, language, llm, timings, retrieval.evidence, filters, asked=searched
        )
        judging = time.perf_counter()
        odds = self.judgements(builder.evidence, searched, searched_in, llm)
        timings["judge"] = time.perf_counter() - judging
        if odds is not None:  # answered or refused by the learned decision
            known = confidence_measures(odds, builder.evidence, searched_in)
            rating = self.confidence_for(llm).rating(known)
            builder.confidence = rating.probability(known)
            builder.confidence_label = rating.label(builder.confidence)
            refused = builder.confidence < rating.answer
        else:  # a backend that cannot judge its passages: the cosine gate decides
            refused = retrieval.best_score < _gate(settings, searched_in, retrieval)
        if not retrieval.evidence or refused:
            yield finish(builder.refusal())
            return
        if llm.kind == "extractive":
            yield finish(builder.extractive(prompts.EXTRACTIVE_NOTICES[language]))
            return
        if odds is not None and settings.factual_answers == "judged":
            for event in self.judged(builder, language, llm, settings):
                if isinstance(event, Answer):
                    yield finish(event)
                    return
                if timings["first_token"] is None:
                    timings["first_token"] = time.perf_counter() - started
                yield event

        messages = prompts.build_messages(question, retrieval.evidence, language)
        schema = prompts.answer_schema(len(retrieval.evidence))
        max_tokens = settings.max_tokens
        raw = ""
        try:
            for piece in llm.stream(messages, schema, settings.temperature, max_tokens):
                raw += piece
                draft = _draft_text(raw)
                if draft:
                    if timings["first_token"] is None:
                        timings["first_token"] = time.perf_counter() - started
                    yield Draft(draft)
        except LLMError as exc:
            log.warning("%s failed, answered with the evidence instead: %s", llm.name, exc)
            builder.model = f"extractive (fallback from {llm.name})"  # what actually answered
            notice = prompts.FALLBACK_NOTICES[language].format(model=llm.name)
            yield finish(builder.extractive(notice))
            return
        yield finish(builder.from_model(raw, self.retriever.embedder))

    def _summary(
        self,
        kind: str,
        question: str,
        language: str,
        asked_in: str,
        llm: LLM,
        settings: Settings,
        filters: Filters,
    ) -> Iterator[Draft | Answer]:
        """A broad or period question's answer: a few cited points from several articles,
        each shown as soon as it is written and checked (see `rag.answering.summaries`)."""
        started = time.perf_counter()
        timings = {"retrieve": None, "first_token": None, "total": None}
        period = filters.period

        def passes(evidence: Evidence) -> bool:  # the gate, for each article's best passage
            return evidence.score >= _gate(settings, asked_in, Retrieval("", [], [evidence], 0))

        if kind == "period":
            plan = summaries.plan_period(self.retriever, question, filters)
        else:
            plan = summaries.plan_broad(
                self.retriever,
                question,
                filters,
                passes,
                self._everywhere_words,
                translated=self._in_corpus_language(question, asked_in, llm),
            )
        timings["retrieve"] = time.perf_counter() - started
        builder = self._builder(question, language, llm, timings, plan.evidence, filters)
        documents = self.retriever.index.documents
        if not plan.evidence:
            yield builder.refusal()
            return
        notices = []
        if llm.kind == "extractive":
            points = [summaries.quoted_point(e) for e in plan.evidence]
            notices.append(prompts.EXTRACTIVE_NOTICES[language])
        else:
            asked = builder.asked
            checker = summaries.PointChecker(
                plan.evidence,
                self.retriever.embedder,
                asked,
                language,
                builder.common,
                documents,
                plan.translated,
            )
            told = prompts.PERIOD_QUESTIONS[language] if kind == "period" else asked
            points = []
            quotable = checker.quotable
            model_failed = False
            try:
                quotes = settings.summary_points == "quotes"
                for point in summaries.write_points(
                    llm, told, plan.evidence, language, checker, settings.temperature, quotes
                ):
                    points.append(point)
                    if timings["first_token"] is None:
                        timings["first_token"] = time.perf_counter() - started
                    yield Draft(builder._answer(_sentences(points), None).text)
            except LLMError as exc:
                log.warning("%s failed, summarised from the evidence instead: %s", llm.name, exc)
                builder.model = f"extractive (fallback from {llm.name})"  # what actually answered
                notices.append(prompts.FALLBACK_NOTICES[language].format(model=llm.name))
                quotable = [e.number for e in plan.evidence]
                model_failed = True

            def restate(evidence: Evidence) -> summaries.Point | None:
                if model_failed:
                    return None
                try:
                    return summaries.translated_point(
                        llm, evidence, language, checker, settings.temperature
                    )
                except LLMError:
                    return None

            summaries.add_quotes_for_coverage(points, plan, quotable, restate)
            quoted = sum(p.quoted for p in points)
            if quoted:
                every = quoted == len(points)
                said = prompts.QUOTED_POINTS_NOTICES if every else prompts.QUOTED_POINT_NOTICES
                notices.append(said[language])
        if not points:
            yield builder.refusal()
            return
        label = period_label(period, language) if period is not None and period.is_range else None
        single = summaries.single_article_notice(points, plan, documents, label, language)
        notice = " ".join(filter(None, [single, *notices])) or None
        yield builder._answer(_sentences(points), notice)

    def confidence_for(self, llm: LLM) -> Confidence | None:
        """The confidence model trained on `llm`'s judgements (the one given, else the shipped
        one or one trained for that backend: `confidence.for_model`); None when there is none."""
        if self._confidence is not None:
            return self._confidence if self._confidence.fits(llm.name) else None
        if llm.name not in self._confidences:
            cache = self.settings.model_cache_dir()
            self._confidences[llm.name] = confidence_for_model(llm.name, cache)
        return self._confidences[llm.name]

    def judgements(
        self, evidence: list[Evidence], question: str, asked_in: str, llm: LLM
    ) -> list[float] | None:
        """The model's log-odds that each of the best passages answers the question, as many
        as the confidence rates (`judged_count`); None when it cannot judge (no token
        probabilities, or it failed), or when the confidence model was trained on another
        model's judgements."""
        confidence = self.confidence_for(llm)
        if llm.kind == "extractive" or confidence is None:
            return None
        passages = evidence[: judged_count(evidence, asked_in, confidence.across is not None)]
        if not passages:
            return None
        try:
            return llm.judge(
                prompts.JUDGE_SYSTEM[asked_in],
                prompts.JUDGE_ASKED[asked_in].format(question=question),
                [e.text for e in passages],
                prompts.JUDGE_ASK[asked_in],
            )
        except LLMError as exc:
            log.warning("%s could not judge the passages: %s", llm.name, exc)
            return None

    def judged(
        self, builder: _Builder, language: str, llm: LLM, settings: Settings
    ) -> Iterator[Draft | Answer]:
        """The answer that quotes the ranker's best passages passing the answer checks, as the
        extractive one does, when the best is in the answer's language; else (with
        `cross_language_answers` "quoted" or "translated") its quote translated by the model,
        yielding `Draft`s as it writes. Ends without an `Answer` when none passes or the
        translation fails its checks: the model then writes."""
        usable = builder.usable()
        if not usable:
            return
        if usable[0].language == language:
            yield builder.quoting(usable[: quoted_share(usable)])
            return
        if settings.cross_language_answers == "written":
            return
        quote = usable[0].as_quoted()
        reply = ""
        try:
            for reply in summaries.translating(llm, quote.text, language, settings.max_tokens):
                yield Draft(reply)
        except LLMError as exc:
            log.warning("%s could not translate the quote: %s", llm.name, exc)
            return
        text = summaries.checked_translation(reply, quote.text, language)
        if text is None or not _translates(self.retriever.embedder, text, quote.text):
            return
        builder.evidence = [quote if e.number == quote.number else e for e in builder.evidence]
        yield builder._answer([Sentence(text, [quote.number])], None)

    def _in_corpus_language(self, question: str, asked_in: str, llm: LLM) -> str | None:
        """The question translated by the model into the articles' language, when it is
        asked in another one and the model can; else None."""
        corpus = self._corpus_language()
        if llm.kind == "extractive" or asked_in == corpus:
            return None
        if corpus not in prompts.TRANSLATE_QUESTION_PROMPTS:
            return None
        try:
            return summaries.question_in(llm, question, corpus)
        except LLMError as exc:
            log.warning("%s could not translate the question: %s", llm.name, exc)
            return None

    def _builder(
        self,
        question: str,
        language: str,
        llm: LLM,
        timings: dict,
        evidence,
        filters: Filters,
        asked: str | None = None,
    ) -> _Builder:
        """The answer builder of one question, with what its checks and notices need; `asked`
        is the question as searched (translated into the articles' language), if not as is."""
        builder = _Builder(
            question=question,
            language=language,
            model=llm.name,
            timings=timings,
            evidence=evidence,
            common=self._common_words(),
        )
        documents = self.retriever.index.documents
        builder.article_text = lambda doc_id: documents[doc_id].text if doc_id in documents else ""
        builder.filter_notice = self._undated_notice(filters, language)
        builder.asked = asked or question
        period = filters.period
        if period is not None and period.is_range and period.origin == "question":
            builder.asked = without_period(builder.asked)  # the period already chose the articles
        return builder

    def retrieve(
        self,
        question: str,
        settings: Settings | None = None,
        filters: Filters | None = None,
        language: str | None = None,
    ) -> Retrieval:
        """The evidence for one factual question (broad and period questions draw theirs in
        `rag.answering.summaries`)."""
        settings = settings or self.settings
        return self.retriever.retrieve(
            question, settings.top_k, settings.evidence, filters=filters, language=language
        )

    def resolve_filters(self, question: str, filters: Filters | None = None) -> Filters:
        """The filters a question is answered with: the user's period when given (it overrides
        the question's), else the period or recency the question names, read relative to the
        newest article's date."""
        filters = filters or Filters()
        if filters.period is not None:
            return filters
        span = self._date_span()
        today = newest_date([span[1]]) if span else None
        return replace(filters, period=parse_period(question, today))

    def _empty_filters(self, filters: Filters, language: str) -> str | None:
        """The answer to give when the filters leave no article, or None."""
        if not filters.active or self.retriever.allowed_documents(filters):
            return None
        if filters.source and not self.retriever.allowed_documents(Filters(source=filters.source)):
            return prompts.EMPTY_SOURCE[language].format(source=filters.source)
        label = period_label(filters.period, language)
        span = self._date_span()
        if span is None:
            return prompts.NO_DATED_ARTICLE[language].format(period=label)
        return prompts.EMPTY_PERIOD[language].format(period=label, first=span[0], last=span[1])

    def _undated_notice(self, filters: Filters, language: str) -> str | None:
        """Says how many undated articles a period left out (they may hold the answer)."""
        period = filters.period
        if period is None or not period.is_range:
            return None
        documents = self.retriever.index.documents.values()
        source = Filters(source=filters.source)
        count = sum(1 for d in documents if not d.date and source.allows(d))
        if not count:
            return None
        label = period_label(period, language)
        return prompts.UNDATED_NOTICES[language].format(period=label, count=count)

    def _date_span(self) -> tuple[str, str] | None:
        """The oldest and newest article months (`2024-07`, `2025-03`), once per index."""
        index = self.retriever.index
        if self._dates_for is not index:
            dates = sorted(d.date for d in index.documents.values() if d.date)
            self._dates = (dates[0][:7], dates[-1][:7]) if dates else None
            self._dates_for = index
        return self._dates

    def _common_words(self) -> frozenset[str]:
        """Words in most articles, computed once per index (see `verify.mentions_asked_names`)."""
        index = self.retriever.index
        if self._common_for is not index:
            self._common = common_keys([d.text for d in index.documents.values()])
            self._common_for = index
        return self._common

    def _everywhere_words(self) -> frozenset[str]:
        """Words of every article, once per index (see `summaries.everywhere_keys`)."""
        index = self.retriever.index
        if self._everywhere_for is not index:
            texts = [d.text for d in index.documents.values()]
            self._everywhere = summaries.everywhere_keys(texts)
            self._everywhere_for = index
        return self._everywhere

    def _language(self, question: str) -> str:
        return detect_language(question, fallback=self._corpus_language())

    def _corpus_language(self) -> str:
        """The articles' majority language, computed once per index."""
        index = self.retriever.index
        if self._language_for is not index:
            self._majority = majority_language([d.language for d in index.documents.values()])
            self._language_for = index
        return self._majority


class _Builder:
    """Turns evidence plus a model reply into an `Answer` whose citations are renumbered."""

    def __init__(
        self,
        *,
        question: str,
        language: str,
        model: str,
        timings: dict,
        evidence: list[Evidence],
        common: frozenset[str],
    ) -> None:
        self.common = common
        self.question = question
        self.language = language
        self.model = model
        self.timings = timings
        self.evidence = evidence
        self.article_text = lambda doc_id: ""
        self.filter_notice: str | None = None  # said with every answer (undated articles)
        self.asked = question  # what the answer checks look for (see `_answers`)
        self.confidence: float | None = None  # see `AnswerPipeline.stream`
        self.confidence_label: str | None = None

    def _answers(self, sentence: str, articles: str) -> bool:
        """Whether a sentence is about what the question names, with a number if it asks one."""
        return mentions_asked_names(
            self.asked, sentence, articles, self.common
        ) and has_number_if_asked(self.asked, sentence)

    def _article(self, evidence: Evidence) -> str:
        """The cited article as the answer checks see it: title, URL ("according to the
        Reddit article" names it) and whole text."""
        return f"{evidence.title} {evidence.url or ''} {self.article_text(evidence.doc_id)}"

    def refusal(self, notice: str | None = None, text: str | None = None) -> Answer:
        return Answer(
            question=self.question,
            language=self.language,
            text=text or prompts.REFUSALS[self.language],
            refused=True,
            sentences=[],
            sources=[],
            model=self.model,
            timings=self.timings,
            notice=self._with_filter_notice(notice),
        )

    def _with_filter_notice(self, notice: str | None) -> str | None:
        return " ".join(filter(None, [self.filter_notice, notice])) or None

    def extractive(self, notice: str) -> Answer:
        """The best passages quoted as they are, when they pass the same answer checks: the
        ranker's best one, and the second one when the ranker cannot tell them apart."""
        usable = self.usable()
        if not usable:
            return self.refusal(notice)
        return self.quoting(usable[: quoted_share(usable)], notice)

    def usable(self) -> list[Evidence]:
        """The evidence passages that pass the answer checks, in the ranker's order."""
        return [e for e in self.evidence if self._answers(e.text, self._article(e))]

    def quoting(self, passages: list[Evidence], notice: str | None = None) -> Answer:
        """The answer that quotes `passages` as they are, each with its neighbouring sentence
        the ranker rates higher; a passage already inside an earlier quote is not repeated."""
        quotes: list[Evidence] = []
        for passage in passages:
            if any(_overlap(q, passage) for q in quotes):
                continue
            quote = passage.as_quoted()
            quotes.append(passage if any(_overlap(q, quote) for q in quotes) else quote)
        by_number = {q.number: q for q in quotes}
        self.evidence = [by_number.get(e.number, e) for e in self.evidence]
        sentences = [Sentence(" ".join(q.text.split()), [q.number]) for q in quotes]
        return self._answer(sentences, notice)

    def from_model(self, raw: str, embedder) -> Answer:
        """The model's sentences that its evidence supports; none left is a refusal.

        Each sentence comes with the model's short quote. A quote found in a passage grounds
        the sentence there, whatever the wording of the sentence: a sentence that does not
        state the quote is replaced by the quote. A sentence without a quote found in the
        passages must be supported by the passage it cites (see `rag.answering.verify.support`).
        """
        reply = _json_reply(raw)
        if reply is not None:
            proposed = [
                (
                    str(s.get("text", "")).strip(),
                    str(s.get("answer", "")).strip(),
                    [int(n) for n in s.get("sources", []) if str(n).isdigit()],
                )
                for s in reply.get("sentences", [])
                if isinstance(s, dict)
                and (str(s.get("text", "")).strip() or str(s.get("answer", "")).strip())
            ]
            answerable = bool(reply.get("answerable", True))
        else:
            loose, answerable = _parse_loose(raw)
            proposed = [(s.text, "", s.sources) for s in loose]
        if not answerable or not proposed:
            return self.refusal()
        by_number = {e.number: e for e in self.evidence}
        passages = tuple(e.text for e in self.evidence)
        verified = []
        quoted = True  # every kept sentence grounded by a quote found in a passage
        for text, quote, cited in proposed:
            holders = quote_holders(quote, self.evidence)
            copied = [] if holders else quote_holders(text, self.evidence)
            if copied and numbers(quote) <= numbers_said(by_number[copied[0]].text):
                # The quote is not written in the passages ("4" for "en quatre mouvements"),
                # but the sentence is copied from one that says its numbers, if any: that
                # passage's words ground the answer. (A quote with an amount of its own, "10
                # milliards", is an invented answer, whatever sentence comes with it.)
                quote, holders = text, copied
            if holders:
                sources = [n for n in cited if n in holders] or holders[:1]
                passage = by_number[sources[0]]
                if passage.language in (self.language, None):
                    # In the answer's language, the passage's own sentence holding the quote:
                    # exact words, the answer with its context, whatever the model wrote.
                    text = sentence_holding(quote, passage.text)
                else:
                    cited_text = " ".join(by_number[n].text for n in sources)
                    close = _close(embedder, text, passage)
                    if not states_quote(text, quote, cited_text, self.question, close):
                        text = as_sentence(quote)
            else:
                text = with_answer(text, quote, passages)
                vector = embedder.embed_batch([text], is_query=False)[0]
                sources = supporting_sources(text, vector, cited, self.evidence)
            if not sources:
                continue
            articles = " ".join(self._article(by_number[n]) for n in sources)
            if self._answers(text, articles):
                same = next((s for s in verified if s.text == text), None)
                if same:  # two quotes of one sentence: said once, with both citations
                    same.sources += [n for n in sources if n not in same.sources]
                else:
                    shown = quote_in(text, quote) if holders else None
                    verified.append(Sentence(text, sources, shown))
                quoted = quoted and bool(holders)
        if not verified:
            return self.refusal()
        ranked = self._ranked_instead(verified) if quoted else None  # not broad points
        return ranked or self._answer(verified, None)

    def _ranked_instead(self, verified: list[Sentence]) -> Answer | None:
        """The best passage quoted, when the model's choice disagrees with the ranking (see
        RANKING_MARGIN); None to keep the model's answer."""
        best = max(self.evidence, key=lambda e: e.score)
        if best.language not in (self.language, None, "unknown"):
            return None  # the quote would be in another language than the question's
        by_number = {e.number: e for e in self.evidence}
        cited = [by_number[n] for s in verified for n in s.sources]
        if any(e.doc_id == best.doc_id for e in cited):
            return None  # the best passage's own article: its next sentence may well answer
        if max(e.score for e in cited) >= best.score - RANKING_MARGIN:
            return None
        answer = self.extractive(None)
        return None if answer.refused else answer

    def _answer(self, sentences: list[Sentence], notice: str | None) -> Answer:
        by_number = {e.number: e for e in self.evidence}
        renumber: dict[int, int] = {}
        for sentence in sentences:
            for n in sentence.sources:
                renumber.setdefault(n, len(renumber) + 1)
        sources = [
            Source(
                n=new,
                doc_id=e.doc_id,
                title=e.title,
                date=e.date,
                url=e.url,
                chunk_id=e.chunk_id,
                text=e.text,
                start=e.start,
                end=e.end,
                score=round(e.score, 4),
                page=e.page,
            )
            for old, new in renumber.items()
            for e in [by_number[old]]
        ]
        final = [Sentence(s.text, [renumber[n] for n in s.sources], s.quote) for s in sentences]
        text = " ".join(_cite(s.text, s.sources) for s in final)
        return Answer(
            question=self.question,
            language=self.language,
            text=text,
            refused=False,
            sentences=final,
            sources=sources,
            model=self.model,
            timings=self.timings,
            notice=self._with_filter_notice(notice),
            confidence=None if self.confidence is None else round(self.confidence, 3),
            confidence_label=self.confidence_label,
        )


def quoted_share(usable: list[Evidence]) -> int:
    """How many of the `usable` passages an answer quotes (see `quoted`)."""
    return quoted([1.0 / (1.0 + math.exp(-e.ranked)) for e in usable])


def _sentences(points) -> list[Sentence]:
    return [Sentence(p.text, list(p.sources)) for p in points]


def period_label(period: Period, language: str) -> str:
    """ "du 2025-03-01 au 2025-03-31", "since 2024-01-01": a period in words."""
    labels = prompts.PERIOD_LABELS[language]
    if period.since and period.until:
        return labels["range"].format(since=period.since, until=period.until)
    if period.since:
        return labels["since"].format(since=period.since)
    return labels["until"].format(until=period.until)


def _gate(settings: Settings, language: str, retrieval: Retrieval) -> float:
    """The lowest best-evidence score worth asking the model about; lower across languages,
    where e5 cosines run lower."""
    best = max(retrieval.evidence, key=lambda e: e.score, default=None)
    if best is not None and best.language not in (language, None, "unknown"):
        return settings.min_relevance - settings.cross_lingual_margin
    return settings.min_relevance


def _close(embedder, text: str, evidence: Evidence) -> bool:
    """Whether a (translated) sentence means what the passage says, by e5 cosine."""
    if evidence.vector is None:
        return False
    vector = embedder.embed_batch([text], is_query=False)[0]
    return float(vector @ evidence.vector) >= SUPPORT_COSINE


def _translates(embedder, translation: str, text: str) -> bool:
    """Whether a translation means what the text says, by e5 cosine (across languages)."""
    vectors = embedder.embed_batch([translation, text], is_query=False)
    return float(vectors[0] @ vectors[1]) >= SUPPORT_COSINE


def _cite(text: str, numbers: list[int]) -> str:
    """Put the citation marks before the sentence's closing punctuation."""
    marks = "".join(f"[{n}]" for n in numbers)
    text = re.sub(r"\s*\[\d+\]", "", text).strip()
    match = re.match(r"^(.*?)([.!?…]*)$", text, re.S)
    return f"{match.group(1)} {marks}{match.group(2) or '.'}"


_DRAFT_FIELD = r'"{}"\s*:\s*"((?:[^"\\]|\\.)*)'
_DRAFT_TEXT = re.compile(_DRAFT_FIELD.format("text"))
_DRAFT_ANSWER = re.compile(_DRAFT_FIELD.format("answer"))


def _draft_text(raw: str) -> str:
    """What a partial JSON reply says so far, for streaming before it is complete.

    The short "answer" comes first in the reply, so it is shown until the sentence starts.
    """
    pieces = []
    matches = list(_DRAFT_TEXT.finditer(raw)) or list(_DRAFT_ANSWER.finditer(raw))
    for match in matches:
        try:
            pieces.append(json.loads('"' + match.group(1).rstrip("\\") + '"'))
        except ValueError:
            pieces.append(match.group(1))
    return " ".join(pieces).strip()


def _json_reply(raw: str) -> dict | None:
    """The JSON reply; a reply cut by the token limit keeps its complete sentences."""
    try:
        reply = json.loads(raw)
        return reply if isinstance(reply, dict) else None
    except ValueError:
        pass
    if not raw.lstrip().startswith("{"):
        return None
    # Cut after the last complete sentence object and close the array and the object.
    for end in (m.end() for m in reversed(list(re.finditer(r"\}\s*(?=,|\])", raw)))):
        try:
            reply = json.loads(raw[:end] + "]}")
            return reply if isinstance(reply, dict) else None
        except ValueError:
            continue
    return {"sentences": []}


def _parse_loose(raw: str) -> tuple[list[Sentence], bool]:
    """Prompt-and-parse fallback for backends without structured output: `text [n]` lines."""
    sentences = []
    for line in re.split(r"(?<=[.!?])\s+|\n", raw):
        cited = [int(n) for n in re.findall(r"\[(\d+)\]", line)]
        text = re.sub(r"\[\d+\]", "", line).strip()
        if text and cited:
            sentences.append(Sentence(text, cited))
    return sentences, bool(sentences)


def _overlap(a: Evidence, b: Evidence) -> bool:
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end
