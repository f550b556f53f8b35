"""Prompts are data: the system prompt, the worked example, the answer schema, fixed messages."""

from __future__ import annotations

# One prompt set per answer language: a small model follows the language of its instructions
# far more reliably than a "write in French" line. Each set never changes between questions, so
# llama.cpp reuses its KV cache and only the evidence and the question are evaluated per answer.
SYSTEM_PROMPTS = {
    "en": """You answer questions about news articles using ONLY the numbered sources.
Rules:
- Use only facts written in the sources, never your own knowledge.
- First give "answer": the exact words of a source that answer the question (a name, a date, a
  place, a short phrase); then "text": one short English sentence that states it.
- Cite in "sources" the numbers of the sources that state it.
- If no source answers the question, reply {"sentences": []}.
Reply with JSON only:
{"sentences": [{"answer": "...", "sources": [n], "text": "..."}]}""",
    "fr": """Tu réponds aux questions sur des articles de presse en utilisant UNIQUEMENT les \
sources numérotées.
Règles :
- Utilise seulement les faits écrits dans les sources, jamais tes propres connaissances.
- Donne d'abord "answer" : les mots exacts d'une source qui répondent à la question (un nom, une
  date, un lieu, une courte expression) ; puis "text" : une courte phrase en français qui l'énonce.
- Cite dans "sources" les numéros des sources qui l'énoncent.
- Si aucune source ne répond à la question, réponds {"sentences": []}.
Réponds uniquement en JSON :
{"sentences": [{"answer": "...", "sources": [n], "text": "..."}]}""",
}

EXAMPLES = {
    "en": [
        (
            """Sources:
[1] Les syndicats ont salué cette décision, tout en réclamant plus de personnel.
[2] Le ministre de la Santé a annoncé mardi l'ouverture de 12 nouveaux hôpitaux en Bretagne.

Question: How many new hospitals were announced, and where?""",
            '{"sentences": [{"answer": "12 nouveaux hôpitaux en Bretagne", '
            '"sources": [2], "text": "The health minister announced 12 new hospitals in '
            'Brittany."}]}',
        ),
        (
            """Sources:
[1] Le ministre de la Santé a annoncé mardi l'ouverture de 12 nouveaux hôpitaux en Bretagne.

Question: What is the army's budget?""",
            '{"sentences": []}',
        ),
    ],
    "fr": [
        (
            """Sources :
[1] Le ministre de la Santé a annoncé mardi l'ouverture de 12 nouveaux hôpitaux en Bretagne.
[2] Les travaux commenceront en mars à Rennes, selon la préfecture.

Question : Dans quelle ville les travaux commenceront-ils ?""",
            '{"sentences": [{"answer": "Rennes", "sources": [2], '
            '"text": "Les travaux commenceront à Rennes."}]}',
        ),
        (
            """Sources :
[1] Le ministre de la Santé a annoncé mardi l'ouverture de 12 nouveaux hôpitaux en Bretagne.

Question : Quel est le budget de l'armée ?""",
            '{"sentences": []}',
        ),
    ],
}

# Broad questions ("résume…", "compare…", see broad.py): a few cited points, no quote field.
BROAD_SYSTEM_PROMPTS = {
    "en": """You answer broad questions about news articles using ONLY the numbered sources.
Rules:
- Write 2 to 4 short English sentences, each stating one point made by the sources, never
  your own knowledge. Prefer points from different sources.
- Cite in "sources" the numbers of the sources that state each point.
- If no source is about the question, reply {"sentences": []}.
Reply with JSON only:
{"sentences": [{"sources": [n], "text": "..."}]}""",
    "fr": """Tu réponds à des questions générales sur des articles de presse en utilisant \
UNIQUEMENT les sources numérotées.
Règles :
- Écris 2 à 4 phrases courtes en français, chacune énonçant un point des sources, jamais tes
  propres connaissances. Préfère des points tirés de sources différentes.
- Cite dans "sources" les numéros des sources qui énoncent chaque point.
- Si aucune source ne traite de la question, réponds {"sentences": []}.
Réponds uniquement en JSON :
{"sentences": [{"sources": [n], "text": "..."}]}""",
}

BROAD_EXAMPLES = {
    "en": [
        (
            """Sources:
[1] Le gouvernement a annoncé 12 nouveaux hôpitaux en Bretagne, financés par l'État.
[2] Les syndicats saluent la décision mais réclament plus de personnel soignant.
[3] L'opposition juge le plan trop tardif et sous-financé.

Question: Summarise the reactions to the hospital plan.""",
            '{"sentences": [{"sources": [2], "text": "Unions welcome the decision but ask for '
            'more nursing staff."}, {"sources": [3], "text": "The opposition finds the plan too '
            'late and underfunded."}]}',
        ),
    ],
    "fr": [
        (
            """Sources :
[1] Le gouvernement a annoncé 12 nouveaux hôpitaux en Bretagne, financés par l'État.
[2] Les syndicats saluent la décision mais réclament plus de personnel soignant.
[3] L'opposition juge le plan trop tardif et sous-financé.

Question : Résume les réactions au plan hospitalier.""",
            '{"sentences": [{"sources": [2], "text": "Les syndicats saluent la décision mais '
            'réclament plus de personnel."}, {"sources": [3], "text": "L\'opposition juge le '
            'plan trop tardif et sous-financé."}]}',
        ),
    ],
}

BROAD_NOTICES = {
    "fr": "Question générale : voici les points les plus pertinents des articles, cités tels "
    "quels.",
    "en": "A broad question: here are the most relevant points of the articles, quoted as "
    "they are.",
}

USER_TEMPLATES = {
    "en": "Sources:\n{sources}\n\nQuestion: {question}",
    "fr": "Sources :\n{sources}\n\nQuestion : {question}",
}

REFUSALS = {
    "fr": "Les articles ne permettent pas de répondre à cette question.",
    "en": "The articles do not answer this question.",
}

# Answers when the filters leave no article: said at once, without the model, so that nothing
# from other dates is passed off as that period.
EMPTY_PERIOD = {
    "fr": "Aucun article sur cette période ({period}) : les articles vont de {first} à {last}.",
    "en": "No article from this period ({period}): the articles run from {first} to {last}.",
}
NO_DATED_ARTICLE = {
    "fr": "Aucun article daté : une question sur une période ({period}) ne peut pas être répondue.",
    "en": "No article has a date, so a question about a period ({period}) cannot be answered.",
}
EMPTY_SOURCE = {
    "fr": "Aucun article de la source « {source} » (cherchée dans l'adresse, le chemin et "
    "l'identifiant des articles).",
    "en": "No article from the source “{source}” (looked for in the articles' URL, path and id).",
}
PERIOD_LABELS = {
    "fr": {
        "range": "du {since} au {until}",
        "since": "depuis le {since}",
        "until": "jusqu'au {until}",
    },
    "en": {"range": "{since} to {until}", "since": "since {since}", "until": "until {until}"},
}
UNDATED_NOTICES = {
    "fr": "{count} article(s) sans date n'ont pas été consultés pour la période {period}.",
    "en": "{count} undated article(s) were left out of the period {period}.",
}

# Names the backend only: its address, path or error (a refused port, a missing file) stays in
# the server's log, as a caller could learn from it what the server can reach.
FALLBACK_NOTICES = {
    "fr": "Le modèle de langage {model} n'a pas pu répondre : voici les passages les plus "
    "pertinents, cités tels quels.",
    "en": "The language model {model} could not answer; here are the most relevant "
    "passages, quoted as they are.",
}

EXTRACTIVE_NOTICES = {
    "fr": "Mode extractif : passages cités tels quels, sans reformulation.",
    "en": "Extractive mode: passages quoted as they are, in the articles' language.",
}

MAX_SENTENCES = 3
MAX_BROAD_SENTENCES = 4
MAX_SOURCES_PER_SENTENCE = 3


def answer_schema(source_count: int, broad: bool = False) -> dict:
    """JSON schema of an answer whose citations can only name sources that exist.

    A factual answer's sentences carry the short quote ("answer") first; a broad answer's
    points do not (they summarise; each is checked against the passage it cites).
    """
    numbers = list(range(1, source_count + 1)) or [1]
    sources = {
        "type": "array",
        "items": {"type": "integer", "enum": numbers},
        "minItems": 1,
        "maxItems": MAX_SOURCES_PER_SENTENCE,
    }
    if broad:
        item = {
            "type": "object",
            "properties": {"sources": sources, "text": {"type": "string"}},
            "required": ["sources", "text"],
        }
    else:
        item = {
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "text": {"type": "string"},
                "sources": sources,
            },
            "required": ["answer", "sources", "text"],
        }
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "maxItems": MAX_BROAD_SENTENCES if broad else MAX_SENTENCES,
                "items": item,
            },
        },
        "required": ["sentences"],
    }


def format_sources(evidence) -> str:
    return "\n".join(f"[{e.number}] {' '.join(e.text.split())}" for e in evidence)


def build_messages(question: str, evidence, language: str, broad: bool = False) -> list[dict]:
    """Chat messages for one question: the fixed prefix, then the evidence and the question."""
    language = language if language in SYSTEM_PROMPTS else "en"
    system, examples = (
        (BROAD_SYSTEM_PROMPTS, BROAD_EXAMPLES) if broad else (SYSTEM_PROMPTS, EXAMPLES)
    )
    messages = [{"role": "system", "content": system[language]}]
    for user, assistant in examples[language]:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    content = USER_TEMPLATES[language].format(
        sources=format_sources(evidence), question=question.strip()
    )
    messages.append({"role": "user", "content": content})
    return messages
