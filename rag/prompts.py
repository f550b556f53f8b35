"""Prompts are data: the system prompt, the worked example, the answer schema, fixed messages."""

from __future__ import annotations

# The system prompt and the worked example never change between questions, so llama.cpp
# reuses their KV cache and only the evidence and the question are evaluated per answer.
SYSTEM_PROMPT = """You answer questions about news articles using ONLY the numbered sources given.
Rules:
- Use only facts written in the sources. Never use your own knowledge.
- Each sentence cites the numbers of the sources that state it.
- Answer the question directly in one or two short sentences.
- If no source answers the question, reply {"answerable": false, "sentences": []}.
- Write the answer in the language requested.
Reply with JSON only: {"answerable": true, "sentences": [{"text": "...", "sources": [n]}]}"""

EXAMPLE_USER = """Sources:
[1] Le ministre de la Santé a annoncé mardi l'ouverture de 12 nouveaux hôpitaux en Bretagne.
[2] Les syndicats ont salué cette décision, tout en réclamant plus de personnel.

Question: How many new hospitals were announced, and where?
Answer in English."""

EXAMPLE_ANSWER = (
    '{"answerable": true, "sentences": [{"text": "The health minister announced 12 new '
    'hospitals in Brittany.", "sources": [1]}]}'
)

EXAMPLE_REFUSAL_USER = """Sources:
[1] Le ministre de la Santé a annoncé mardi l'ouverture de 12 nouveaux hôpitaux en Bretagne.

Question: Quel est le budget de l'armée ?
Réponds en français."""

EXAMPLE_REFUSAL = '{"answerable": false, "sentences": []}'

USER_TEMPLATE = """Sources:
{sources}

Question: {question}
{language_instruction}"""

LANGUAGE_INSTRUCTIONS = {"en": "Answer in English.", "fr": "Réponds en français."}

REFUSALS = {
    "fr": "Les articles ne permettent pas de répondre à cette question.",
    "en": "The articles do not answer this question.",
}

FALLBACK_NOTICES = {
    "fr": "Le modèle de langage n'a pas pu répondre ({reason}) : voici les passages les plus "
    "pertinents, cités tels quels.",
    "en": "The language model could not answer ({reason}); here are the most relevant "
    "passages, quoted as they are.",
}

EXTRACTIVE_NOTICES = {
    "fr": "Mode extractif : passages cités tels quels, sans reformulation.",
    "en": "Extractive mode: passages quoted as they are, in the articles' language.",
}

MAX_SENTENCES = 3
MAX_SOURCES_PER_SENTENCE = 3


def answer_schema(source_count: int) -> dict:
    """JSON schema of an answer whose citations can only name sources that exist."""
    numbers = list(range(1, source_count + 1)) or [1]
    return {
        "type": "object",
        "properties": {
            "answerable": {"type": "boolean"},
            "sentences": {
                "type": "array",
                "maxItems": MAX_SENTENCES,
                "items": {
                    "type": "object",
                    "properties": {
                        "text": {"type": "string"},
                        "sources": {
                            "type": "array",
                            "items": {"type": "integer", "enum": numbers},
                            "minItems": 1,
                            "maxItems": MAX_SOURCES_PER_SENTENCE,
                        },
                    },
                    "required": ["text", "sources"],
                },
            },
        },
        "required": ["answerable", "sentences"],
    }


def format_sources(evidence) -> str:
    return "\n".join(f"[{e.number}] {' '.join(e.text.split())}" for e in evidence)


def build_messages(question: str, evidence, language: str) -> list[dict]:
    """Chat messages for one question: the fixed prefix, then the evidence and the question."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": EXAMPLE_USER},
        {"role": "assistant", "content": EXAMPLE_ANSWER},
        {"role": "user", "content": EXAMPLE_REFUSAL_USER},
        {"role": "assistant", "content": EXAMPLE_REFUSAL},
    ]
    messages.append(
        {
            "role": "user",
            "content": USER_TEMPLATE.format(
                sources=format_sources(evidence),
                question=question.strip(),
                language_instruction=LANGUAGE_INSTRUCTIONS.get(
                    language, LANGUAGE_INSTRUCTIONS["en"]
                ),
            ),
        }
    )
    return messages
