"""The Articles tab's timeline: articles per month as a bar chart, and one row per article.

Written by hand as HTML: a bar per month that is a button (citations.js turns a click into the
chat's period filter). Gradio's BarPlot selects by dragging a range, not by clicking a bar.
"""

from __future__ import annotations

import html
from collections import Counter
from urllib.parse import urlparse

from rag.ingest.corpus import Document

LABELS = {
    "fr": {
        "per_month": "Articles par mois — cliquez un mois pour n'interroger que cette période",
        "undated": "sans date",
        "empty": "Aucun article indexé.",
        "title": "Titre",
        "date": "Date",
        "source": "Source",
        "language": "Langue",
        "chunks": "Passages",
        "articles": "articles",
    },
    "en": {
        "per_month": "Articles per month — click a month to ask about that period only",
        "undated": "undated",
        "empty": "No article indexed.",
        "title": "Title",
        "date": "Date",
        "source": "Source",
        "language": "Language",
        "chunks": "Passages",
        "articles": "articles",
    },
}


def months(documents: list[Document]) -> list[tuple[str, int]]:
    """(YYYY-MM, article count) for every month from the oldest dated article to the newest.

    Months without an article are kept (with 0), so gaps show on the timeline. An article
    dated by its year only has no month: it is in the table, not on the chart.
    """
    counts = Counter(doc.date[:7] for doc in documents if doc.date and len(doc.date) >= 7)
    if not counts:
        return []
    first, last = min(counts), max(counts)
    out, year, month = [], int(first[:4]), int(first[5:7])
    while f"{year:04d}-{month:02d}" <= last:
        key = f"{year:04d}-{month:02d}"
        out.append((key, counts.get(key, 0)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def source_of(doc: Document) -> str:
    """The site an article comes from (its URL's host), else its file name."""
    host = urlparse(doc.url).hostname if doc.url else None
    if host:
        return host.removeprefix("www.")
    return doc.path.rsplit("/", 1)[-1] if doc.path else doc.doc_id


def timeline_html(documents: dict[str, Document], chunks: dict[str, int], language: str) -> str:
    """The chart (one clickable bar per month) and the article table, newest first."""
    t = LABELS.get(language, LABELS["en"])
    docs = list(documents.values())
    if not docs:
        return f"<p class='hint'>{t['empty']}</p>"
    per_month = months(docs)
    tallest = max((count for _, count in per_month), default=0) or 1
    bars = "".join(
        f"<button class='timeline-bar' data-month='{month}'"
        f" title='{month}: {count} {t['articles']}'"
        f"{' disabled' if not count else ''}>"
        f"<span class='count'>{count or ''}</span>"
        f"<span class='bar' style='height:{round(100 * count / tallest)}%'></span>"
        f"<span class='month'>{month}</span></button>"
        for month, count in per_month
    )
    undated = sum(1 for doc in docs if not doc.date or len(doc.date) < 7)
    note = f"<p class='hint'>{undated} {t['undated']}</p>" if undated else ""
    chart = (
        f"<p class='timeline-help'>{t['per_month']}</p>"
        f"<div class='timeline' id='timeline-chart'>{bars}</div>{note}"
        if per_month
        else note
    )
    rows = sorted(docs, key=lambda d: (d.date or "", d.title), reverse=True)
    body = "".join(
        f"<tr><td>{html.escape(doc.title)}</td><td>{html.escape(doc.date or '—')}</td>"
        f"<td>{html.escape(source_of(doc))}</td><td>{html.escape(doc.language)}</td>"
        f"<td>{chunks.get(doc.doc_id, 0)}</td></tr>"
        for doc in rows
    )
    head = "".join(
        f"<th>{t[key]}</th>" for key in ("title", "date", "source", "language", "chunks")
    )
    return (
        f"{chart}<table class='articles-table' id='articles-table'>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
