"""Summaries: broad questions and questions about a period, answered as a few cited points.

Two kinds of question get one:
- "period": a period (or the newest articles) is named and nothing more specific is asked
  ("Que disent les articles publiés en juillet 2024 ?", "What happened in March 2025?"), or an
  overview of the articles is asked without a subject ("Résume les articles"). The points come
  from the articles' most central passages, newest article first.
- "broad": a summary, a comparison or an overview of a subject ("Compare les approches…"). The
  points come from the passages that answer it, chosen for coverage (maximal marginal
  relevance, one article before a second passage of the same).

A passage in the answer's language is its own point, quoted; for a passage in another
language the model writes one short point, checked against the passage as soon as it is
complete, so that the first one is shown before the others are written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from rag.answering import prompts
from rag.answering.broad import is_broad
from rag.answering.periods import Filters, Period, bounds, without_period
from rag.answering.questions import content_words
from rag.answering.retrieval import Evidence, Retriever
from rag.answering.verify import (
    PREFIX,
    SUPPORT_COSINE,
    has_number_if_asked,
    mentions_asked_names,
    numbers,
    readable,
    supporting_sources,
)
from rag.text import bm25_tokenize, detect_language, fold

POINTS = 3  # points of a summary (2 to 5 are asked for)
QUESTION_MAX_TOKENS = 64  # a translated question
CANDIDATES = 12  # passages a broad question's points are chosen from
CHUNKS = 12  # chunks searched for them
PER_ARTICLE = 3  # at most this many candidate passages of one article
# Maximal marginal relevance: a passage's score is RELEVANCE_WEIGHT x its relevance minus the
# rest x its closest cosine to a passage already chosen.
RELEVANCE_WEIGHT = 0.7
# A passage is shown to the model up to this many words, cut at a clause boundary when there is
# one in its second half (the prompt is most of the time to the first point).
PASSAGE_WORDS = 32
POINT_MAX_TOKENS = 70  # one point of at most ~25 words, in JSON
# A word in this share of the articles names no subject within the corpus ("Chine" in a corpus
# about China).
EVERYWHERE_SHARE = 0.9
DUPLICATE_COSINE = 0.97  # a point this close to an earlier one says the same thing
MIN_SENTENCE_WORDS = 6  # a shorter line (a heading, a fragment) is no passage, no point
LEAD_WEIGHT = 0.05  # bonus of an article's first sentence (halved for the second...)
# Penalty of a sentence that leans on the one before ("Cette question est cruciale…", "De plus,
# …"): out of its article, it does not say what it is about.
LEANING_PENALTY = 0.02
LEXICAL_WEIGHT = 0.1  # bonus x share of the question's stemmed words a sentence holds

# Words that ask what the articles say, whatever their subject (folded, as regular
# expressions on whole words): "que disent les articles publiés", "what was announced",
# "quoi de neuf", "give an overview". With the function words, the period's own words and the
# corpus's everyday words (in most articles), they leave nothing specific to look for.
_ASKING = re.compile(
    r"(?:dire|dis|dit|dits|dite|dites|disent|disai\w*|dira\w*|declar\w*|say|says|said|tell|"
    r"tells|told|annon\w*|announc\w*|publi\w*|paru|parus|parue|parues|parai\w*|sorti\w*|"
    r"ecri\w*|ecrit\w*|write|writes|wrote|written|rapport\w*|report\w*|racont\w*|parl\w*|"
    r"talk\w*|discu\w*|evoqu\w*|mention\w*|abord\w*|couvr\w*|couvert\w*|cover\w*|passe|"
    r"passee|passes|passees|arrive\w*|happen\w*|nouvel\w*|nouveau\w*|neuf|new|news|"
    r"actualit\w*|infos?|information\w*|evenements?|events?|articles?|sources?|presse|press|"
    r"journa\w*|medias?|sujets?|topics?|themes?|principa\w*|main|key|cles?|essentiel\w*|"
    r"important\w*|resum\w*|summar\w*|synthe\w*|overview|apercu|bilan|recap\w*|"
    r"devoil\w*|unveil\w*|reveal\w*|lanc\w*|launch\w*|mois|months?|annees?|ans?|years?|"
    r"semaines?|weeks?|jours?|days?|periodes?|periods?|dates?|dated|datee?s?|"
    r"donne\w*|give|show|montre\w*|liste\w*|list|fais|faire|make|peux|pouvez|voudrais|"
    r"veux|want|like|tout|tous|toutes|all|everything|quoi|me|moi|nous|whats?|there|"
    r"ete|est-ce|a-t-il|y-a-t-il|t-il|quelque|chose|something|anything|rien|"
    r"ont|avai\w*|aur\w*|etai\w*|sera|seront|serai\w*|fut|furent|being|got|get|"
    r"compar\w*|decri\w*|describ\w*|expliqu\w*|explain\w*|present\w*|faites|point|points|"
    r"ensemble|overall|whole|general|generale?s?|derni\w*|recen\w*|latest|newest|last|plus|"
    r"most|about|concerning|regarding|concernant|propos|around|sujet)",
)


# Openings of a sentence that refers to the one before: a demonstrative, a pronoun, a connector.
_LEANING = re.compile(
    r"\W*(?:ce|cet|cette|ces|cela|ceci|son|sa|ses|leur|leurs|il|elle|ils|elles|de plus|en outre|"
    r"par ailleurs|cependant|toutefois|mais|this|these|that|those|it|its|they|their|he|she|his|"
    r"her|such|moreover|furthermore|however|but|also)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Point:
    """One point of a summary, with the numbers of the passages it cites; `quoted` when it is
    the passage's own sentence instead of the model's."""

    text: str
    sources: list[int]
    quoted: bool = False


@dataclass
class Plan:
    """The passages a summary draws on (numbered from 1, in the order of the points) and the
    articles that pass the relevance decision."""

    kind: str
    evidence: list[Evidence]
    relevant: list[str]  # doc_ids, those of the points first
    translated: str | None = None  # the question in the articles' language, when translated


def summary_kind(
    question: str, period: Period | None, everywhere: Callable[[], frozenset[str]]
) -> str | None:
    """ "period", "broad" or None (a factual question).

    "period": a period or the newest articles are named, or a broad question is asked, and
    nothing specific remains of the question once its date words, its function words, the
    words asking what was said and the words of every article (`everywhere()`, see
    `everywhere_keys`: "Chine" in a corpus about China) are set aside.
    """
    dated = period is not None and (period.is_range or period.recent)
    broad = is_broad(question)
    if (dated or broad) and not specific_words(question, everywhere):
        return "period"
    return "broad" if broad else None


def specific_words(question: str, everywhere: Callable[[], frozenset[str]]) -> list[str]:
    """The words of the question that name something to look for."""
    words = [w for w in content_words(without_period(question)) if not _ASKING.fullmatch(fold(w))]
    if not words:
        return []
    keys = everywhere()
    return [w for w in words if not (w.isalpha() and _word_key(w) in keys)]


def subject_keys(question: str, everywhere: Callable[[], frozenset[str]]) -> set[str]:
    """The keys of the question's specific words, as `relevant_articles` looks for them."""
    return {_word_key(w) for w in specific_words(question, everywhere) if len(w) > 2}


def everywhere_keys(texts: list[str]) -> frozenset[str]:
    """The word keys (see `rag.answering.verify.common_keys`) found in EVERYWHERE_SHARE of
    the texts: what the whole corpus is about, which names no subject within it."""
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    # Stop words aside: "entre" would make "entreprises" look written everywhere.
    stop = {fold(w) for w in (*STOPWORDS_FRENCH, *STOPWORDS_EN)}
    counts: dict[str, int] = {}
    for text in texts:
        words = {fold(w) for w in re.findall(r"\w+", text)} - stop
        for key in {_word_key(w) for w in words}:
            counts[key] = counts.get(key, 0) + 1
    least = max(2, EVERYWHERE_SHARE * len(texts))
    return frozenset(key for key, count in counts.items() if count >= least)


def _word_key(word: str) -> str:
    """A word as `rag.answering.verify.common_keys` counts it: folded, its first letters."""
    word = fold(word)
    return word[:PREFIX] if len(word) > PREFIX else word


# --- choosing the passages ---------------------------------------------------------------------


def plan_period(retriever: Retriever, question: str, filters: Filters, count: int = POINTS) -> Plan:
    """The most central passages of the period's articles (of every article when no period is
    named; of the newest ones when recency is asked), one per article before a second of the
    same, newest article first."""
    index = retriever.index
    allowed = retriever.allowed_documents(filters)
    documents = [d for d in index.documents.values() if allowed is None or d.doc_id in allowed]
    period = filters.period
    if period is not None and period.recent and not period.is_range:
        dated = [d for d in documents if d.date]
        documents = sorted(dated, key=lambda d: bounds(d.date)[1], reverse=True)[:count]
    candidates = _central_passages(retriever, [d.doc_id for d in documents], question)
    if not candidates:
        return Plan("period", [], [])
    # Among many articles, those about what the period is about: each passage also scores its
    # cosine to the mean of them all; then the articles are chosen for coverage.
    centre = np.mean([e.vector for e in candidates], axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    candidates = [replace(e, score=e.score + float(e.vector @ centre)) for e in candidates]
    chosen = choose_for_coverage(candidates, count, {e.doc_id for e in candidates})
    query = retriever.embedder.embed_query(question)
    scored = [replace(e, score=float(e.vector @ query)) for e in chosen]
    ordered = sorted(scored, key=_newest_first)
    relevant = list(dict.fromkeys(e.doc_id for e in ordered))
    return Plan("period", _numbered(ordered, retriever), relevant)


def plan_broad(
    retriever: Retriever,
    question: str,
    filters: Filters,
    passes: Callable[[Evidence], bool],
    everywhere: Callable[[], frozenset[str]],
    count: int = POINTS,
    translated: str | None = None,
) -> Plan:
    """The passages that answer a broad question, chosen for coverage among the articles that
    pass the relevance decision (see `relevant_articles`); newest first when a period is
    named. The subject words are read from `translated`, the question in the articles'
    language, when there is one."""
    retrieval = retriever.retrieve(question, CHUNKS, CANDIDATES, PER_ARTICLE, filters)
    candidates = [e for e in retrieval.evidence if not e.text.rstrip().endswith("?")]
    subject = subject_keys(translated or question, everywhere)
    documents = retriever.index.documents
    relevant = relevant_articles(candidates, passes, subject, documents)

    def relevance(evidence: Evidence) -> float:  # the passages that name the subject first
        return evidence.score + LEXICAL_WEIGHT * _share_of(subject, evidence.text)

    chosen = choose_for_coverage(candidates, count, relevant, relevance=relevance)
    period = filters.period
    if period is not None and (period.is_range or period.recent):
        chosen = sorted(chosen, key=_newest_first)
    order = list(dict.fromkeys([*(e.doc_id for e in chosen), *sorted(relevant)]))
    return Plan("broad", _numbered(chosen, retriever), order, translated)


def relevant_articles(
    candidates: list[Evidence], passes: Callable[[Evidence], bool], subject: set[str], documents
) -> set[str]:
    """The articles a broad question may draw on: those whose best passage `passes` the gate,
    and those that write at least half of the question's subject words (word keys, so the
    words must be in the articles' language: see `question_in`). Why cosines alone do not
    do: docs/lab/2026-12-06-warm-start-and-summaries.md."""
    best: dict[str, Evidence] = {}
    for evidence in candidates:
        if evidence.doc_id not in best or evidence.score > best[evidence.doc_id].score:
            best[evidence.doc_id] = evidence
    relevant = set()
    for doc_id, evidence in best.items():
        keys = _text_keys(documents[doc_id].text)
        if passes(evidence) or (subject and len(subject & keys) >= len(subject) / 2):
            relevant.add(doc_id)
    return relevant


@lru_cache(maxsize=256)
def _text_keys(text: str) -> frozenset[str]:
    """The word keys a text writes (an article's are read again by each broad question)."""
    return frozenset(_word_key(w) for w in re.findall(r"\w+", text))


def _share_of(keys: set[str], text: str) -> float:
    """The share of the word `keys` that `text` writes."""
    return len(keys & _text_keys(text)) / len(keys) if keys else 0.0


def choose_for_coverage(
    candidates: list[Evidence],
    count: int,
    relevant: set[str],
    weight: float = RELEVANCE_WEIGHT,
    relevance: Callable[[Evidence], float] = lambda evidence: evidence.score,
) -> list[Evidence]:
    """Up to `count` passages of the `relevant` articles by maximal marginal relevance: each
    next one the most relevant (`relevance`) and least like those chosen, from an article not yet
    cited while there is one."""
    pool = [e for e in candidates if e.doc_id in relevant]
    relevances = {id(e): relevance(e) for e in pool}
    chosen: list[Evidence] = []
    while pool and len(chosen) < count:
        cited = {e.doc_id for e in chosen}
        options = [e for e in pool if e.doc_id not in cited] or pool

        def marginal(evidence: Evidence) -> float:
            closest = max((_cosine(evidence, c) for c in chosen), default=0.0)
            return weight * relevances[id(evidence)] - (1 - weight) * closest

        pick = max(options, key=marginal)
        chosen.append(pick)
        pool.remove(pick)
    return chosen


def _central_passages(retriever: Retriever, doc_ids: list[str], question: str) -> list[Evidence]:
    """The citable sentences of the articles that say best what each article is about, at
    most PER_ARTICLE of each, best first.

    A sentence scores its cosine to its article's mean sentence vector, plus a bonus for
    coming first (LEAD_WEIGHT: a news article opens with what matters; the mean alone prefers
    vague sentences), plus the share of the question's words it holds ("Qu'a dévoilé la Chine
    en décembre 2024 ?": the sentence that says what was unveiled), minus a penalty when it
    leans on the sentence before.
    """
    index = retriever.index
    wanted = set(doc_ids)
    rows: dict[str, list[int]] = {}
    for row, (doc_id, _start, _end) in enumerate(index.sentences):
        if doc_id in wanted:
            rows.setdefault(doc_id, []).append(row)
    chunks: dict[str, list] = {}
    for chunk in index.chunks:
        if chunk.doc_id in wanted:
            chunks.setdefault(chunk.doc_id, []).append(chunk)
    terms = _terms(without_period(question))
    passages = []
    for doc_id, doc_rows in rows.items():
        document = index.documents[doc_id]
        citable = [r for r in doc_rows if _citable(document.text[_span(index, r)])]
        if not citable:
            continue
        vectors = np.asarray(index.sentence_vectors[doc_rows], dtype=np.float32)
        centre = vectors.mean(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        cited_vectors = np.asarray(index.sentence_vectors[citable], dtype=np.float32)
        words = bm25_tokenize([document.text[_span(index, r)] for r in citable], ids=False)
        scores = [
            float(vector @ centre)
            + LEAD_WEIGHT / (1 + place)
            + LEXICAL_WEIGHT * (len(terms & set(said)) / len(terms) if terms else 0.0)
            - LEANING_PENALTY * bool(_LEANING.match(document.text[_span(index, row)]))
            for place, (vector, said, row) in enumerate(zip(cited_vectors, words, citable))
        ]
        best = sorted(range(len(citable)), key=lambda i: -scores[i])[:PER_ARTICLE]
        for i in best:
            start, end = _span(index, citable[i]).start, _span(index, citable[i]).stop
            chunk = next((c for c in chunks.get(doc_id, []) if c.start <= start < c.end), None)
            passages.append(
                Evidence(
                    number=0,
                    doc_id=doc_id,
                    chunk_id=chunk.chunk_id if chunk else "",
                    title=document.title,
                    date=document.date,
                    url=document.url,
                    text=document.text[start:end],
                    start=start,
                    end=end,
                    score=scores[i],
                    vector=cited_vectors[i],
                    language=document.language,
                    page=document.page_at(start),
                )
            )
    return sorted(passages, key=lambda e: -e.score)


def _span(index, row: int) -> slice:
    _doc_id, start, end = index.sentences[row]
    return slice(start, end)


def _terms(text: str) -> set[str]:
    tokens = bm25_tokenize([text], ids=False)
    return set(tokens[0]) if tokens else set()


def _citable(text: str) -> bool:
    """A whole sentence that states something: not a heading, a teaser line or a question."""
    return text.rstrip()[-1:] in ".!…»\"”'’)" and len(text.split()) >= MIN_SENTENCE_WORDS


def _cosine(a: Evidence, b: Evidence) -> float:
    if a.vector is None or b.vector is None:
        return 0.0
    return float(a.vector @ b.vector)


def _newest_first(evidence: Evidence) -> tuple:
    """Newest article first, undated ones last; an article's passages in their order."""
    day = bounds(evidence.date)[1] if evidence.date else ""
    return (day == "", _reverse(day), evidence.doc_id, evidence.start)


def _reverse(day: str) -> str:
    """An ISO day whose sort order is reversed (digits complemented)."""
    return "".join(str(9 - int(c)) if c.isdigit() else c for c in day)


def _numbered(evidence: list[Evidence], retriever: Retriever) -> list[Evidence]:
    """The passages numbered from 1 in their order, shortened for the prompt."""
    documents = retriever.index.documents
    return [
        replace(shortened(e, documents[e.doc_id].text), number=n) for n, e in enumerate(evidence, 1)
    ]


def shortened(evidence: Evidence, document_text: str, words: int = PASSAGE_WORDS) -> Evidence:
    """The passage cut to about `words` words, at a clause boundary in its second half when
    there is one; its offsets still point into the article."""
    spans = [m.span() for m in re.finditer(r"\S+", evidence.text)]
    if len(spans) <= words:
        return evidence
    cut = spans[words - 1][1]
    clause = max(
        (m.end() for m in re.finditer(r"[,;:](?=\s)", evidence.text[:cut])),
        default=0,
    )
    if clause >= spans[words // 2][0]:
        cut = clause
    end = evidence.start + cut
    return replace(evidence, text=document_text[evidence.start : end], end=end)


# --- writing and checking the points -----------------------------------------------------------


class PointChecker:
    """Keeps a point when the passage it cites supports it (see `rag.answering.verify.support`),
    it mentions what the question names, and it does not repeat an earlier point."""

    def __init__(
        self,
        evidence,
        embedder,
        asked: str,
        language: str,
        common,
        documents,
        translated: str | None = None,
    ) -> None:
        self.evidence = {e.number: e for e in evidence}
        self.language = language  # the answer's
        self.embedder = embedder
        self.asked = asked  # the question as the checks read it (without its period)
        # What a passage in the articles' language is checked against: the translated
        # question (without its period, as `asked`) when there is one.
        self.asked_in_articles = without_period(translated) if translated else asked
        self.common = common  # the corpus's everyday words (`verify.common_keys`)
        self.documents = documents  # doc_id -> Document
        self.vectors: list[np.ndarray] = []
        # Passages whose point did not pass its check, though the passage itself would: its
        # own words may stand in for the point (see `add_quotes_for_coverage`).
        self.quotable: list[int] = []

    def check(self, text: str, number: int) -> Point | None:
        """The point written for passage `number` when that passage supports it; or None."""
        point = self._check(_tidy(text), number)
        passage = self.evidence[number]
        if point is None and self._about_the_question(
            passage.text, [passage], self.asked_in_articles
        ):
            self.quotable.append(number)
        return point

    def quote(self, passage: Evidence) -> Point | None:
        """The passage's own words as its point, unless an earlier point says the same."""
        point = quoted_point(passage)
        vector = passage.vector
        if vector is None:
            vector = self.embedder.embed_batch([point.text], is_query=False)[0]
        if not self._new(vector):
            return None
        return point

    def translation(self, text: str, number: int) -> Point | None:
        """A translated passage as its point: in the answer's language, with no number the
        passage lacks, as close to it as a supported sentence (e5 cosine; names are spelt
        otherwise in another language: "AI" / "IA"), and no repeat of an earlier point. The
        passage's subject was already checked."""
        passage = self.evidence[number]
        if len(text.split()) < MIN_SENTENCE_WORDS or not numbers(text) <= numbers(passage.text):
            return None
        if detect_language(text, fallback=self.language) != self.language:
            return None
        vector = self.embedder.embed_batch([text], is_query=False)[0]
        if passage.vector is None or float(vector @ passage.vector) < SUPPORT_COSINE:
            return None
        if not self._new(vector):
            return None
        return Point(text, [number])

    def _check(self, text: str, number: int) -> Point | None:
        if len(text.split()) < MIN_SENTENCE_WORDS or text.endswith("?"):
            return None
        if detect_language(text, fallback=self.language) != self.language:
            return None  # a passage copied in its own language, not the answer's
        vector = self.embedder.embed_batch([text], is_query=False)[0]
        # The model was shown this passage alone: what only another one supports, it made up.
        sources = supporting_sources(text, vector, [number], [self.evidence[number]])
        if not sources:
            return None
        if not self._about_the_question(text, [self.evidence[n] for n in sources]):
            return None
        if not self._new(vector):
            return None
        return Point(text, sources)

    def _new(self, vector: np.ndarray) -> bool:
        """Whether a point says something no earlier point said (then it is remembered)."""
        if any(float(vector @ seen) >= DUPLICATE_COSINE for seen in self.vectors):
            return False
        self.vectors.append(vector)
        return True

    def _about_the_question(
        self, text: str, cited: list[Evidence], asked: str | None = None
    ) -> bool:
        """Whether the text, or the articles it cites, mention what the question (`asked`,
        by default the checks' own) names, with a number if it asks one (see
        `rag.answering.verify.mentions_asked_names`)."""
        asked = asked or self.asked
        articles = " ".join(self._article(e) for e in cited)
        return mentions_asked_names(asked, text, articles, self.common) and has_number_if_asked(
            asked, text
        )

    def _article(self, evidence: Evidence) -> str:
        """The cited article as the checks see it: title, URL and whole text."""
        document = self.documents.get(evidence.doc_id)
        return f"{evidence.title} {evidence.url or ''} {document.text if document else ''}"


def _tidy(text: str) -> str:
    """A point as it is shown: one line, without the quotation marks or the stray punctuation
    a model may open it with ("'Plan de renforcement…' visant à…", ". Les entreprises…")."""
    text = " ".join(text.split()).lstrip(" .,;:-–—")
    if text.startswith("'"):  # a name in single quotes; a quotation has other marks
        end = re.search(r"'(?=[\s.,;:!?]|$)", text[1:])
        text = text[1:] if end is None else text[1 : end.start() + 1] + text[end.end() + 1 :]
    return text[:1].upper() + text[1:]


def write_points(
    llm,
    question: str,
    evidence: list[Evidence],
    language: str,
    checker: PointChecker,
    temperature: float = 0.0,
    quotes: bool = True,
) -> Iterator[Point]:
    """Each checked point as soon as it is ready. With `quotes`, a passage in the answer's
    language is quoted as it is and the model writes only the points it translates; without,
    the model restates every passage.

    One call per passage: the prompt holds that passage only, so that the first point comes
    after reading one passage instead of all of them.
    """
    for passage in evidence:
        if quotes and detect_language(passage.text, fallback=passage.language) == language:
            point = checker.quote(passage)
            if point is not None:
                yield point
            continue
        shown = replace(passage, number=1)
        messages = prompts.build_messages(question, [shown], language, broad=True)
        schema = prompts.answer_schema(1, broad=True)
        raw, done = "", 0
        for piece in llm.stream(messages, schema, temperature, POINT_MAX_TOKENS):
            raw += piece
            items = complete_items(raw)
            for text in items[done:]:
                point = checker.check(text, passage.number)
                if point is not None:
                    yield point
            done = len(items)


_ITEM = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ARRAY = re.compile(r'^\s*\{\s*"points"\s*:\s*\[')


def complete_items(raw: str) -> list[str]:
    """The points of a partial reply `{"points": ["…", "…` whose closing quote has come."""
    opening = _ARRAY.match(raw)
    if not opening:
        return []
    items = []
    position = opening.end()
    while True:
        match = _ITEM.search(raw, position)
        if not match or raw[position : match.start()].strip(" \n,") not in ("",):
            break
        try:
            items.append(json.loads(f'"{match.group(1)}"'))
        except ValueError:
            items.append(match.group(1))
        position = match.end()
    return items


def quoted_point(evidence: Evidence) -> Point:
    """The passage's own words as a point (a passage cut short for the prompt ends with "…")."""
    text = readable(evidence.text)
    if text[-1:] not in ".!?…»\"”'’)":
        text = text.rstrip(" ,;:") + "…"
    return Point(text, [evidence.number], quoted=True)


def add_quotes_for_coverage(
    points: list[Point],
    plan: Plan,
    quotable: list[int],
    restate: Callable[[Evidence], Point | None] | None = None,
) -> bool:
    """Cite two articles when two pass the relevance decision: the passage of an article whose
    point did not pass its check (`quotable`; not one the model said nothing about) stands in
    for it, restated by `restate` (a translation) when it gives a point, else quoted. Points are
    put back in the order of their passages. Whether a passage was added."""
    wanted = min(2, len(plan.relevant))
    added = False
    for evidence in plan.evidence:
        cited = _articles_cited(points, plan.evidence)
        if len(cited) >= wanted:
            break
        if evidence.doc_id not in cited and evidence.number in quotable:
            points.append((restate and restate(evidence)) or quoted_point(evidence))
            added = True
    points.sort(key=lambda p: min(p.sources))
    return added


def question_in(llm, question: str, language: str) -> str | None:
    """`question` translated by the model into `language`, or None when the reply is not a
    question in that language."""
    example, translation = prompts.TRANSLATE_QUESTION_EXAMPLES[language]
    messages = [
        {"role": "system", "content": prompts.TRANSLATE_QUESTION_PROMPTS[language]},
        {"role": "user", "content": example},
        {"role": "assistant", "content": translation},
        {"role": "user", "content": question},
    ]
    reply = "".join(llm.stream(messages, None, 0.0, QUESTION_MAX_TOKENS)).strip()
    reply = reply.strip('"“”«» ').splitlines()[0].strip() if reply else ""
    if not reply or len(reply) > 3 * len(question) + 20:
        return None
    if question.rstrip().endswith("?") != reply.endswith("?"):
        return None  # an answer, not the question
    return reply if detect_language(reply, fallback="") == language else None


def translating(llm, text: str, language: str, max_tokens: int) -> Iterator[str]:
    """The model's translation of `text` into `language`, as far as it has written it."""
    messages = [
        {"role": "system", "content": prompts.TRANSLATE_PASSAGE[language]},
        {"role": "user", "content": text},
    ]
    reply = ""
    for piece in llm.stream(messages, None, 0.0, max_tokens):
        reply += piece
        if reply.strip():
            yield " ".join(reply.split())


def checked_translation(reply: str, text: str, language: str) -> str | None:
    """The model's translation of `text`, or None when it is in another language than
    `language` or says a number the text does not."""
    if not reply or detect_language(reply, fallback="") != language:
        return None
    return reply if numbers(reply) <= numbers(text) else None


def translated_point(
    llm, passage: Evidence, language: str, checker: PointChecker, temperature: float = 0.0
) -> Point | None:
    """The passage translated into the answer's language by the model, kept when it is in that
    language and its passage supports it; None for a passage already in it, or a failed try."""
    if detect_language(passage.text, fallback=passage.language) == language:
        return None
    shown = replace(passage, number=1)
    messages = prompts.build_messages(
        prompts.TRANSLATE_QUESTIONS[language], [shown], language, broad=True
    )
    schema = prompts.answer_schema(1, broad=True)
    raw = "".join(llm.stream(messages, schema, temperature, POINT_MAX_TOKENS))
    items = complete_items(raw)
    return checker.translation(_tidy(items[0]), passage.number) if items else None


def _articles_cited(points: list[Point], evidence: list[Evidence]) -> set[str]:
    by_number = {e.number: e for e in evidence}
    return {by_number[n].doc_id for p in points for n in p.sources}


def single_article_notice(
    points: list[Point], plan: Plan, documents, label: str | None, language: str
) -> str | None:
    """Says that the points come from one article only (the only one in the period, or the
    only one about the question)."""
    cited = _articles_cited(points, plan.evidence)
    if len(cited) != 1:
        return None
    title = documents[next(iter(cited))].title
    if plan.kind == "period" and label:
        return prompts.SINGLE_PERIOD_ARTICLE_NOTICES[language].format(period=label, title=title)
    return prompts.SINGLE_ARTICLE_NOTICES[language].format(title=title)
