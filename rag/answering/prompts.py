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

# Summaries (broad and period questions, see summaries.py): the model gets one passage at a
# time and writes one short point about it, so that each point is shown as soon as it is
# checked. Their own first words: llama.cpp's prompt cache tells prompt sets apart by them.
BROAD_SYSTEM_PROMPTS = {
    "en": """You summarise news articles for a reader, using ONLY the numbered source.
Rules:
- Write one short English sentence, at most 20 words, stating what the source says about the
  question: the fact itself, not "the article says". Use only facts written in the source,
  never your own knowledge. Always write in English.
- If the source says nothing about the question, reply {"points": []}.
Reply with JSON only:
{"points": ["..."]}""",
    "fr": """Tu résumes des articles de presse pour un lecteur, en utilisant UNIQUEMENT la \
source numérotée.
Règles :
- Écris une phrase courte en français, de 20 mots au plus, qui énonce ce que dit la source sur
  la question : le fait lui-même, sans « l'article dit ». Utilise seulement les faits écrits
  dans la source, jamais tes connaissances. Écris toujours en français.
- Si la source ne dit rien sur la question, réponds {"points": []}.
Réponds uniquement en JSON :
{"points": ["..."]}""",
}

BROAD_EXAMPLES = {
    "en": [
        (
            """Sources:
[1] Les syndicats ont salué cette décision, tout en réclamant davantage de personnel \
soignant dans les hôpitaux bretons.

Question: Summarise the reactions to the hospital plan.""",
            '{"points": ["Unions welcomed the decision but asked for more nursing staff in '
            'Breton hospitals."]}',
        ),
    ],
    "fr": [
        (
            """Sources :
[1] Les syndicats ont salué cette décision, tout en réclamant davantage de personnel \
soignant dans les hôpitaux bretons.

Question : Résume les réactions au plan hospitalier.""",
            '{"points": ["Les syndicats saluent la décision mais réclament plus de personnel '
            'soignant en Bretagne."]}',
        ),
    ],
}

# The question the model gets for a summary of a period: the period chose the articles, and
# the source holds no date to look for.
PERIOD_QUESTIONS = {
    "fr": "Que dit cet article ?",
    "en": "What does this article say?",
}
# Asked of a passage kept for coverage whose point did not pass its checks, when it is in
# another language than the answer: its translation instead of a quote in that language.
TRANSLATE_QUESTIONS = {
    "fr": "Traduis cette source en une phrase.",
    "en": "Translate this source into one sentence.",
}

# Asked of the model for a factual question in another language than its articles: the
# passage quoted, translated into the question's language.
TRANSLATE_PASSAGE = {
    "fr": "Traduis en français le passage de l'utilisateur. Garde les noms, les nombres et les "
    "dates tels quels. Réponds par la traduction seule.",
    "en": "Translate the user's passage into English. Keep names, numbers and dates as they "
    "are. Reply with the translation only.",
}

# Asked of the model when a broad question is in another language than the articles: the
# question in the articles' language, whose subject words are then looked for in them.
TRANSLATE_QUESTION_PROMPTS = {
    "fr": "Traduis cette question en français. Réponds par la question traduite seule.",
    "en": "Translate this question into English. Reply with the translated question only.",
}
_RAIL = {
    "fr": "Comment les articles décrivent-ils la nouvelle ligne ferroviaire ?",
    "en": "How do the articles describe the new rail line?",
}
# One worked example for each language a question is translated into: (question, translation).
TRANSLATE_QUESTION_EXAMPLES = {"fr": (_RAIL["en"], _RAIL["fr"]), "en": (_RAIL["fr"], _RAIL["en"])}

# Asked of the model for each of the best passages of a factual question (`LLM.judge`): the
# log-odds of its "yes" choose the passage quoted.
JUDGE_SYSTEM = {
    "fr": "Tu vérifies si un passage donne la réponse à une question. Réponds par oui ou non.",
    "en": "You check whether a passage gives the answer to a question. Reply yes or no.",
}
JUDGE_ASKED = {"fr": "Question : {question}\nPassage : ", "en": "Question: {question}\nPassage: "}
JUDGE_ASK = {
    "fr": "\nLe passage donne-t-il la réponse à la question ?",
    "en": "\nDoes the passage give the answer to the question?",
}

# Said with a summary drawn from one article only.
SINGLE_ARTICLE_NOTICES = {
    "fr": "Un seul article traite de la question : « {title} ».",
    "en": "Only one article is about this question: “{title}”.",
}
SINGLE_PERIOD_ARTICLE_NOTICES = {
    "fr": "Un seul article pour la période {period} : « {title} ».",
    "en": "Only one article in the period {period}: “{title}”.",
}
# Said when a point is a passage quoted as it is (the model's point did not pass its check).
QUOTED_POINTS_NOTICES = {
    "fr": "Les points sont des passages des articles, cités tels quels.",
    "en": "The points are passages of the articles, quoted as they are.",
}
QUOTED_POINT_NOTICES = {
    "fr": "Certains points sont des passages cités tels quels.",
    "en": "Some points are passages quoted as they are, in the articles' language.",
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
MAX_SOURCES_PER_SENTENCE = 3


def answer_schema(source_count: int, broad: bool = False) -> dict:
    """JSON schema of an answer whose citations can only name sources that exist.

    A factual answer's sentences carry the short quote ("answer") first. A summary's points
    are plain strings, one per source and in their order (the point cites its source), so that
    no token is spent writing citations; each is checked against its passage.
    """
    if broad:
        points = {"type": "array", "items": {"type": "string"}, "maxItems": source_count}
        return {"type": "object", "properties": {"points": points}, "required": ["points"]}
    numbers = list(range(1, source_count + 1)) or [1]
    sources = {
        "type": "array",
        "items": {"type": "integer", "enum": numbers},
        "minItems": 1,
        "maxItems": MAX_SOURCES_PER_SENTENCE,
    }
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
            "sentences": {"type": "array", "maxItems": MAX_SENTENCES, "items": item},
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
