"""Time and source filters: the period a question names, or the one the user sets.

A `Filters` object goes from the service to the answer pipeline to the retriever; nothing
else carries dates or sources. Dates are ISO strings; an article dated only by month
(`2024-07`) or year falls in a period when any of its days does.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from rag.text import fold

# Words that ask for the newest articles rather than a period.
_RECENT = re.compile(
    r"\b(?:r[ée]cemment|r[ée]cent(?:e|s|es)?"
    r"|(?:la|le|les) derni(?:er|ère|ere)s? (?:annonces?|nouvelles?|actualit[ée]s?|articles?"
    r"|informations?|d[ée]veloppements?|initiatives?)"
    r"|le plus r[ée]cent|la plus r[ée]cente|recently|recent|latest|newest|most recent)\b",
    re.IGNORECASE,
)

_MONTHS = (
    r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre"
    r"|d[ée]cembre|january|february|march|april|may|june|july|august|september|october"
    r"|november|december|janv\.?|f[ée]vr?\.?|sept?\.?|oct\.?|nov\.?|d[ée]c\.?"
)
_YEAR = r"(?:19|20)\d{2}"
# Prepositions that make a bare year or a month without a year a time expression: "en 2024",
# "in May" are; "Made in China 2025", "la Coupe du monde 2022", "may" (the verb) are not.
_LEAD = (
    r"en|in|depuis|since|avant|before|apr[èe]s|after|pendant|durant|during|jusqu'(?:en|à|au)"
    r"|until|till|through|de|d'|du|of|from|à partir de|début|fin|mi-|end of|early|late|between"
    r"|entre|l'ann[ée]e|l'an|ann[ée]e|the year|year"
)
_ISO = r"\b(?:19|20)\d{2}-(?:0[1-9]|1[0-2])(?:-\d{2})?\b"
# Seasons and terms as news writes them: "2019-20", "1930-31", "2024/25", "2019-2020".
_SPAN = r"\b(?:19|20)\d{2}\s?[-/–]\s?(?:(?:19|20)\d{2}|\d{2})\b"
# Halves and quarters: "S1 2025" (semestre), "H2 2024" (half), "Q3 2025", "T3 2025" (trimestre).
_PART = rf"\b[SHQT][1-4]\s+{_YEAR}\b"
_FULL = (
    rf"\b(?:\d{{1,2}}(?:er)?\s+)?(?:{_MONTHS})\s+{_YEAR}\b"
    rf"|\b(?:{_MONTHS})\s+\d{{1,2}},?\s+{_YEAR}\b"
)
_LED = (
    rf"(?:(?<=\s)|^)(?:{_LEAD})(?:\s+|(?<=['-]))"
    rf"(?:(?:{_MONTHS})\b(?!\.?\s+\d)|{_YEAR}\b(?!\s?[-/–]\s?\d))"
)
_RELATIVE = (
    r"l'an (?:dernier|pass[ée])|l'ann[ée]e (?:derni[èe]re|pass[ée]e)|cette ann[ée]e"
    r"|le mois (?:dernier|pass[ée])|ce mois-ci|la semaine derni[èe]re"
    r"|il y a (?:\d+|un|une|deux|trois|quatre|six) (?:jours?|semaines?|mois|ans?|ann[ée]es?)"
    r"|last (?:year|month|week)|this (?:year|month)|past year"
    r"|(?:\d+|one|two|three|four|six) (?:days?|weeks?|months?|years?) ago"
)
_EXPRESSION = re.compile(
    rf"{_ISO}|{_SPAN}|{_PART}|{_FULL}|{_LED}|\b(?:{_RELATIVE})\b", re.IGNORECASE
)
_RELATIVE_EXPRESSION = re.compile(rf"\b(?:{_RELATIVE})\b", re.IGNORECASE)
_STRIP_LEAD = re.compile(rf"^(?:{_LEAD})(?:\s+|(?<=['-]))", re.IGNORECASE)

# What turns a date into an open range. dateparser reads one date; it has no notion of
# "since" or "before", so these are matched here, on the words just before the date.
_SINCE = re.compile(
    r"(?:depuis|since|apr[èe]s|after|à partir d[e']|starting)\s*(?:le |the |l')?$",
    re.IGNORECASE,
)
_AFTER = re.compile(r"(?:apr[èe]s|after)\s*(?:le |the |l')?$", re.IGNORECASE)
_UNTIL = re.compile(
    r"(?:avant|before|jusqu'(?:en|à|au)|until|till|up to|through)\s*(?:le |the |l')?$",
    re.IGNORECASE,
)
_BEFORE = re.compile(r"(?:avant|before)\s*(?:le |the |l')?$", re.IGNORECASE)
_BETWEEN = re.compile(r"(?:entre|between|de|du|from)\s*(?:le |the |l')?$", re.IGNORECASE)
_AND = re.compile(r"^\s*(?:et|and|à|au|to|-)\s*(?:le |the |l')?$", re.IGNORECASE)

_GRANULARITY = {"day", "month", "year"}


@dataclass(frozen=True)
class Period:
    """Articles dated from `since` to `until` (ISO days, inclusive; None: open), or none of
    those and `recent`: a preference for the newest articles. `origin` is "question" when
    read from the question, "filter" when the user set it."""

    since: str | None = None
    until: str | None = None
    origin: str = "question"
    recent: bool = False

    @property
    def is_range(self) -> bool:
        return self.since is not None or self.until is not None

    def contains(self, article_date: str | None) -> bool:
        """Whether an article of this date is in the period (an undated one never is)."""
        if not self.is_range:
            return True
        if not article_date:
            return False
        first, last = bounds(article_date)
        return (self.since is None or last >= self.since) and (
            self.until is None or first <= self.until
        )

    def mentioned(self, spans) -> bool:
        """Whether one of the date spans an article writes (`mentioned_spans`) lies in the
        period: "1934" in an article about a stadium, for "qui occupe le stade en 1934 ?"."""
        return self.is_range and any(
            (self.since is None or first >= self.since)
            and (self.until is None or last <= self.until)
            for first, last in spans
        )

    def to_dict(self) -> dict:
        record = {"since": self.since, "until": self.until, "from": self.origin}
        if self.recent:
            record["recent"] = True
        return record


@dataclass(frozen=True)
class Filters:
    """What a question may draw on: a period and a source (a substring of the article's URL,
    file path or doc_id, case-insensitive; e.g. `reddit.com` or `002_`)."""

    period: Period | None = None
    source: str | None = None

    @classmethod
    def explicit(
        cls, since: str | None = None, until: str | None = None, source: str | None = None
    ) -> Filters:
        """The user's filters; `since`/`until` are YYYY, YYYY-MM or YYYY-MM-DD."""
        since, until = (since or "").strip() or None, (until or "").strip() or None
        period = None
        if since and until and bounds(since)[0] > bounds(until)[1]:
            raise ValueError(f"since {since} is after until {until}")
        if since or until:
            period = Period(
                since=bounds(since)[0] if since else None,
                until=bounds(until)[1] if until else None,
                origin="filter",
            )
        return cls(period=period, source=(source or "").strip() or None)

    @property
    def active(self) -> bool:
        return bool(self.source) or (self.period is not None and self.period.is_range)

    @property
    def hides_passages(self) -> bool:
        """Whether some passages of the allowed articles are hidden (`allows_passage`)."""
        return False

    def allows_passage(self, doc_id: str, start: int, end: int) -> bool:
        """Whether the passage `start:end` of an allowed article may be used: every one, unless
        a subclass hides some (training: a question asked with its answer's paragraph gone)."""
        return True

    def allows(self, document, spans=()) -> bool:
        """Whether an article (`rag.ingest.corpus.Document`) may be used. A period read from the
        question also lets in an article that writes a date of the period (`spans`, see
        `mentioned_spans`): a question names the time of the events, which is the articles'
        date in news ("what happened in March 2025?") but not in a history article."""
        period = self.period
        if period is not None and not period.contains(document.date):
            if period.origin != "question" or not period.mentioned(spans):
                return False
        if self.source:
            needle = self.source.lower()
            haystack = f"{document.url or ''}\n{document.path}\n{document.doc_id}".lower()
            return needle in haystack
        return True


_MONTH_NUMBERS = {
    name: number
    for number, names in enumerate(
        (
            "janvier january",
            "fevrier february",
            "mars march",
            "avril april",
            "mai may",
            "juin june",
            "juillet july",
            "aout august",
            "septembre september",
            "octobre october",
            "novembre november",
            "decembre december",
        ),
        1,
    )
    for name in names.split()
}
# A year, and the word before it (a month when it is one): "mars 2025", "en 1934".
_MENTION = re.compile(r"(?:\b([^\W\d_]+)\s+)?\b((?:1[5-9]|20)\d{2})\b(?![.,]?\d)")


def mentioned_spans(text: str) -> list[tuple[str, str]]:
    """The dates an article writes, as (first, last) days: a month with its year ("mars 2025")
    or a year alone ("1934", and so any 4-digit number from 1500 to 2099: a loose reading
    that only ever lets more articles into a period)."""
    spans = set()
    for match in _MENTION.finditer(text):
        word, year = match.groups()
        number = _MONTH_NUMBERS.get(fold(word or ""))
        spans.add(bounds(f"{year}-{number:02d}" if number else year))
    return sorted(spans)


def bounds(value: str) -> tuple[str, str]:
    """The first and last day of `2024`, `2024-07` or `2024-07-15`, as ISO strings."""
    match = re.fullmatch(r"(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?", value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a date: write YYYY, YYYY-MM or YYYY-MM-DD")
    year, month, day = (int(g) if g else None for g in match.groups())
    try:
        if day is not None:
            single = date(year, month, day).isoformat()
            return single, single
        if month is not None:
            last = calendar.monthrange(year, month)[1]
            return date(year, month, 1).isoformat(), date(year, month, last).isoformat()
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date: {exc}") from None
    return f"{year:04d}-01-01", f"{year:04d}-12-31"


def newest_date(dates) -> date | None:
    """The last day of the newest article date (the "now" of relative expressions)."""
    last = [bounds(d)[1] for d in dates if d]
    return date.fromisoformat(max(last)) if last else None


def parse_period(question: str, today: date | None) -> Period | None:
    """The period or recency preference a question names, or None.

    `today` is the newest article's date, so that "l'an dernier" means the year before the
    newest article, not before the clock. Candidate expressions are found by pattern (a month
    with a year, an ISO date, a year or month after a preposition, a relative expression):
    dateparser's own `search_dates` also took "2022" in "Coupe du monde 2022" and "China 2025"
    for periods. Each expression is then read by dateparser (French and English), which gives
    its date and granularity (day, month or year).
    """
    question = question.replace("’", "'")  # "l’an dernier", "jusqu’à": same offsets
    found = []
    for match in _EXPRESSION.finditer(question):
        start, text = match.start(), match.group(0)
        lead = _STRIP_LEAD.match(text) if not text[:1].isdigit() else None
        if lead and lead.end() and not re.match(_RELATIVE, text, re.IGNORECASE):
            start, text = start + lead.end(), text[lead.end() :]
        try:
            interval = _read(text, today)
        except (ValueError, OverflowError):  # "2024-02-31", "il y a 99999999 ans": no period
            interval = None
        if interval:
            found.append((start, start + len(text), interval))
    if not found:
        return Period(recent=True) if _RECENT.search(question) else None
    try:
        return _range(question, found)
    except (ValueError, OverflowError):  # a shift past the calendar's ends: no period
        return None


def _range(question: str, found: list) -> Period:
    """The period of the first date expression found, opened or closed by the words before."""
    (start, end, (first, last)) = found[0]
    before = question[:start]
    if len(found) > 1 and _BETWEEN.search(before) and _AND.match(question[end : found[1][0]]):
        return Period(since=first, until=found[1][2][1])
    if _AFTER.search(before):
        return Period(since=_shift(last, 1))
    if _SINCE.search(before):
        return Period(since=first)
    if _BEFORE.search(before):
        return Period(until=_shift(first, -1))
    if _UNTIL.search(before):
        return Period(until=last)
    return Period(since=first, until=last)


def without_period(question: str) -> str:
    """The question without its date expressions (and their prepositions): what the answer
    checks look for in the cited article once the period has chosen the articles. "2024" in
    "en juillet 2024" is not a name the answer must repeat; the article's date line is not
    in its text."""
    stripped = _EXPRESSION.sub(" ", question.replace("’", "'"))
    stripped = re.sub(
        r"\b(?:depuis|since|avant|before|apr[èe]s|after|entre|between|jusqu'(?:en|à|au)|until)"
        r"\s*(?=[\s,?.!]|$)",
        " ",
        stripped,
        flags=re.IGNORECASE,
    )
    return " ".join(stripped.split())


def without_relative(question: str) -> str:
    """The question as searched: without its relative time words ("l'an dernier", "last
    year"), which no article writes; the period they name already chose the articles. Absolute
    dates stay: articles write them ("qui occupe le stade en 1934 ?")."""
    plain = question.replace("’", "'")
    if not _RELATIVE_EXPRESSION.search(plain):
        return question  # unchanged to the byte: another apostrophe is another query vector
    return " ".join(_RELATIVE_EXPRESSION.sub(" ", plain).split())


def _read(text: str, today: date | None) -> tuple[str, str] | None:
    """The first and last day of one date expression, read by dateparser."""
    import dateparser

    text = text.strip()
    iso = re.fullmatch(_ISO.replace(r"\b", ""), text)
    if iso:
        return bounds(text)
    if re.fullmatch(_SPAN.replace(r"\b", ""), text):
        return _span(text)
    if re.fullmatch(_PART.replace(r"\b", ""), text, re.IGNORECASE):
        return _part(text)
    # dateparser reads "l'année dernière" but not "l'an dernier" / "l'an passé".
    text = re.sub(r"l'an (dernier|pass[ée])", "l'année dernière", text, flags=re.IGNORECASE)
    base = datetime.combine(today or date.today(), datetime.min.time())
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "PREFER_DAY_OF_MONTH": "first"}
    parsed = dateparser.DateDataParser(languages=["fr", "en"], settings=settings)
    data = parsed.get_date_data(text)
    if data is None or data.date_obj is None:
        return None
    day = data.date_obj.date()
    granularity = data.period if data.period in _GRANULARITY else "day"
    if re.search(r"semaine|week", text, re.IGNORECASE):
        granularity = "week"
    if granularity == "year":
        return bounds(f"{day.year:04d}")
    if granularity == "month":
        return bounds(f"{day.year:04d}-{day.month:02d}")
    if granularity == "week":
        monday = day - timedelta(days=day.weekday())
        return monday.isoformat(), (monday + timedelta(days=6)).isoformat()
    return day.isoformat(), day.isoformat()


def _span(text: str) -> tuple[str, str] | None:
    """Both calendar years of a season or term ("2019-20", "2024/25", "2019-2020"): a loose
    reading, as a season runs over two years; None when the second year does not follow."""
    first, second = re.split(r"\s?[-/–]\s?", text)
    start = int(first)
    end = int(second) if len(second) == 4 else start // 100 * 100 + int(second)
    if len(second) == 2 and end < start:  # "1999-00"
        end += 100
    if not start < end <= start + (1 if len(second) == 2 else 50):
        return None
    return bounds(first)[0], bounds(str(end))[1]


_PART_MONTHS = {"S": 6, "H": 6, "Q": 3, "T": 3}  # months in a semestre, half, quarter, trimestre


def _part(text: str) -> tuple[str, str] | None:
    """The months of "S1 2025", "H2 2024", "Q3 2025" or "T4 2024"; None for "S3 2025"."""
    kind, number, year = text[0].upper(), int(text[1]), text.split()[-1]
    months = _PART_MONTHS[kind]
    if number > 12 // months:
        return None
    first, last = (number - 1) * months + 1, number * months
    return bounds(f"{year}-{first:02d}")[0], bounds(f"{year}-{last:02d}")[1]


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
