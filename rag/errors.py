"""The small error hierarchy: library code raises these, the CLI and UI turn them into messages."""


class RagError(Exception):
    """Base of every error this package raises on purpose; the message says how to fix it."""


class ConfigError(RagError):
    """A setting is missing or invalid."""


class CorpusError(RagError):
    """A corpus file cannot be read or holds no article text."""


class IndexStoreError(RagError):
    """The index is missing, corrupt, or was built with other settings."""


class LLMError(RagError):
    """An LLM backend is unknown, unavailable, or failed while answering."""


class ModelAssemblyError(LLMError):
    """Bundled model weights are missing or do not match their published size and hash."""
