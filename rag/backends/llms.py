"""LLM backends behind one method, `stream(messages, schema)`, and a registry keyed by name."""

from __future__ import annotations

import json
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.backends.bundled import BUNDLED, ensure_gguf
from rag.config import Settings
from rag.errors import LLMError
from rag.threads import llama_threads


class LLM(ABC):
    """A chat model. Backends implement `stream`; `schema`, when given, constrains the output."""

    name: str = "llm"
    kind: str = "llm"

    @abstractmethod
    def stream(
        self,
        messages: list[dict],
        schema: dict | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
    ) -> Iterator[str]:
        """Yield the reply as text pieces."""

    def complete(self, messages: list[dict], schema: dict | None = None, **options) -> str:
        return "".join(self.stream(messages, schema, **options))


class ExtractiveLLM(LLM):
    """No model at all: the answer pipeline quotes the best evidence sentences instead."""

    name = "extractive"
    kind = "extractive"

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        raise LLMError("The extractive backend does not generate text.")


# One generation at a time in this process, whichever model: a llama.cpp context is not safe to
# use from two threads, and each model already runs on the whole thread budget, so two at once
# would only slow each other down.
_GENERATION_LOCK = threading.Lock()
PROMPT_CACHE_ENTRIES = 4  # at most this many saved prompt states (one per prompt set in use)
SAME_PROMPT_TOKENS = 32  # keys sharing this many first tokens come from the same prompt set


def _prompt_cache(entries: int):
    """llama-cpp-python's RAM cache, holding the latest state of each prompt set.

    Its own bound counts only the llama.cpp state bytes, but each entry also holds a copy of
    the logits buffer (n_batch x vocabulary floats: 311 MB for Qwen), so a byte-capped cache
    grew a long-running process past 10 GB. The cache is here so that the French and the
    English prompt prefixes both stay evaluated: a new state replaces the one of its own
    prompt set, and the count is capped.
    """
    from llama_cpp import Llama, LlamaRAMCache

    class PromptSetCache(LlamaRAMCache):
        def __setitem__(self, key, value):
            key = tuple(key)
            for old in list(self.cache_state):
                if Llama.longest_token_prefix(old, key) >= SAME_PROMPT_TOKENS:
                    del self.cache_state[old]
            super().__setitem__(key, value)
            while len(self.cache_state) > entries:
                self.cache_state.popitem(last=False)

    return PromptSetCache()


class LlamaCppLLM(LLM):
    """A local GGUF model run in-process by llama-cpp-python, with grammar-constrained output."""

    kind = "llama.cpp"

    def __init__(self, name: str, model_path: Path, threads: int = 0, context: int = 2048):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise LLMError("GGUF models need `pip install llama-cpp-python`.") from exc
        if not Path(model_path).is_file():
            raise LLMError(f"GGUF file not found: {model_path}. Give an existing path.")
        self.name = name
        self.model_path = Path(model_path)
        try:
            self._llama = Llama(
                model_path=str(model_path),
                n_ctx=context,
                n_batch=512,
                **llama_threads(threads),
                verbose=False,
            )
        except ValueError as exc:
            raise LLMError(f"llama.cpp could not load {model_path}: {exc}") from exc
        # Keeps the evaluated prompt prefix of each language's prompt set, so switching between
        # French and English questions does not re-evaluate the instructions.
        self._llama.set_cache(_prompt_cache(PROMPT_CACHE_ENTRIES))
        self._grammars: dict[str, object] = {}
        self._template = _chat_template(self._llama)

    def _grammar(self, schema: dict, after_prefix: bool = False):
        from llama_cpp import LlamaGrammar
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        key = json.dumps(schema, sort_keys=True)
        if (key, after_prefix) not in self._grammars:
            gbnf = json_schema_to_gbnf(key)
            if after_prefix:
                gbnf = continuation_grammar(gbnf, schema)
            self._grammars[key, after_prefix] = (
                LlamaGrammar.from_string(gbnf, verbose=False) if gbnf else None
            )
        return self._grammars[key, after_prefix]

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        prefix = forced_prefix(schema) if schema else None
        grammar = self._grammar(schema, after_prefix=True) if prefix else None
        template = self._template if grammar else None
        with _GENERATION_LOCK:
            try:
                if template is None:
                    yield from self._chat(messages, schema, temperature, max_tokens)
                    return
                # The reply's fixed opening is written into the prompt instead of being
                # generated one constrained token at a time: 4 tokens, ~0.25 s less to the
                # first word of the answer on 2 cores.
                formatted = template(messages=messages)
                chunks = self._llama.create_completion(
                    formatted.prompt + prefix,
                    grammar=grammar,
                    stream=True,
                    temperature=temperature,
                    max_tokens=max_tokens,
                    stop=formatted.stop,
                )
                yield prefix
                for chunk in chunks:
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        yield piece
            except (RuntimeError, ValueError) as exc:
                raise LLMError(f"llama.cpp failed: {exc}") from exc

    def _chat(self, messages, schema, temperature, max_tokens):
        chunks = self._llama.create_chat_completion(
            messages=messages,
            grammar=self._grammar(schema) if schema else None,
            stream=True,
            temperature=temperature,
            max_tokens=max_tokens,
        )
        for chunk in chunks:
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                yield piece


def _chat_template(llama):
    """The model's own chat template (GGUF metadata), to write the prompt ourselves; None
    when the file has none. Special-token texts are read as `Llama.__init__` reads them."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    eos_id, bos_id = llama.token_eos(), llama.token_bos()
    eos, bos = (llama._model.token_get_text(t) if t >= 0 else "" for t in (eos_id, bos_id))
    return Jinja2ChatFormatter(template, eos, bos, stop_token_ids=[eos_id])


def forced_prefix(schema: dict) -> str | None:
    """The text every reply to `schema` starts with, when its root is an object holding one
    required array (the answer schema: `{"sentences": [`); else None."""
    properties = schema.get("properties", {})
    if schema.get("type") != "object" or list(properties) != schema.get("required"):
        return None
    if len(properties) != 1:
        return None
    ((name, value),) = properties.items()
    return f'{{"{name}": [' if value.get("type") == "array" else None


def continuation_grammar(gbnf: str, schema: dict) -> str | None:
    """The grammar of what follows `forced_prefix(schema)`: the array's items, then `]}`.

    Rewrites the root of llama.cpp's JSON-schema grammar, whose array rule is named after the
    property (`sentences ::= "[" space (...)? "]" space`); None if it is not found.
    (Hand-written: llama-cpp-python has no way to constrain a reply that starts in the prompt.)
    """
    (name,) = schema["properties"]
    opening = f'{name} ::= "[" space '
    rules = [line for line in gbnf.splitlines() if not line.startswith("root ::= ")]
    array = [line for line in rules if line.startswith(opening)]
    if len(array) != 1:
        return None
    rest = array[0][len(opening) :]
    return "\n".join([f'root ::= space {rest} "}}" space', *rules])


class OpenAICompatibleLLM(LLM):
    """Any OpenAI-compatible chat server: vLLM, llama.cpp's server, Ollama, LM Studio.

    Structured output is negotiated: OpenAI's `json_schema` form first (vLLM, OpenAI), then the
    `json_object` + `schema` form that llama.cpp's Python server accepts, then plain text.
    """

    kind = "openai"
    FORMS = ("json_schema", "json_object", "none")

    def __init__(
        self,
        name: str,
        base_url: str,
        model: str,
        timeout: float = 120.0,
        first_token_timeout: float = 20.0,
        connect_timeout: float = 3.0,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model or "default"
        self.timeout = timeout  # the whole answer
        self.first_token_timeout = first_token_timeout  # also the longest silence mid-answer
        self.connect_timeout = connect_timeout
        self.api_key = _api_key()
        self._form: str | None = None  # the form the server accepted last time

    def _response_format(self, form: str, schema: dict) -> dict | None:
        if form == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        if form == "json_object":
            return {"type": "json_object", "schema": schema}
        return None

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        import httpx

        forms = [self._form] if self._form else list(self.FORMS)
        if not schema:
            forms = ["none"]
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        # httpx's read timeout bounds each silence (a server that accepts and never answers);
        # the deadlines below bound a server that keeps the line busy without saying anything.
        timeout = httpx.Timeout(
            self.timeout, connect=self.connect_timeout, read=self.first_token_timeout
        )
        started = time.monotonic()
        last_error = ""
        for form in forms:
            body = {
                "model": self.model,
                "messages": messages,
                "stream": True,
                "temperature": temperature,
                "max_tokens": max_tokens,
            }
            response_format = self._response_format(form, schema) if schema else None
            if response_format:
                body["response_format"] = response_format
            answered = False
            try:
                with httpx.stream(
                    "POST",
                    f"{self.base_url}/chat/completions",
                    json=body,
                    headers=headers,
                    timeout=timeout,
                ) as response:
                    if response.status_code >= 400:
                        last_error = f"HTTP {response.status_code}: {response.read()[:300]!r}"
                        continue  # try the next structured-output form
                    self._form = form
                    for piece in self._timed(_server_sent_pieces(response.iter_lines()), started):
                        answered = True
                        yield piece
                    return
            except httpx.ConnectTimeout as exc:
                raise LLMError(
                    f"Cannot reach {self.base_url}: no connection within {self.connect_timeout:g} s"
                ) from exc
            except httpx.TimeoutException as exc:
                raise LLMError(self._silence(answered)) from exc
            except httpx.HTTPError as exc:
                raise LLMError(f"Cannot reach {self.base_url}: {exc}") from exc
        raise LLMError(f"{self.base_url} refused the request ({last_error}).")

    def _timed(self, pieces: Iterator[str], started: float) -> Iterator[str]:
        """`pieces`, stopped when the first one or the whole answer is late."""
        answered = False
        for piece in pieces:
            elapsed = time.monotonic() - started
            if elapsed > self.timeout:
                raise LLMError(f"{self.base_url} took over {self.timeout:g} s to answer")
            if piece is None:  # a line with no text: keep-alive, role, empty delta
                if not answered and elapsed > self.first_token_timeout:
                    raise LLMError(self._silence(False))
                continue
            answered = True
            yield piece

    def _silence(self, answered: bool) -> str:
        if answered:
            return f"{self.base_url} went silent for {self.first_token_timeout:g} s mid-answer"
        return f"no first token from {self.base_url} within {self.first_token_timeout:g} s"


def _api_key() -> str | None:
    return os.environ.get("RAG_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY")


def _server_sent_pieces(lines) -> Iterator[str | None]:
    """The text pieces of a server-sent event stream; None for each line without text, so
    that the caller can keep time while a server sends only keep-alives."""
    for line in lines:
        if not line.startswith("data:"):
            yield None
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            payload = json.loads(data)
            piece = payload["choices"][0].get("delta", {}).get("content")
        except (ValueError, KeyError, IndexError, AttributeError):
            piece = None
        yield piece or None


# --- registry ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One entry of the registry: a fixed name, or a prefix that takes an argument."""

    name: str
    kind: str
    description: str
    factory: Callable[[str, Settings], LLM]
    is_prefix: bool = False
    available: Callable[[], bool] = lambda: True
    path: Callable[[Settings], str | None] = lambda settings: None
    # Whatever else than the name the factory builds the instance from: loaded instances are
    # kept per name and value of this, so other threads or timeouts get an instance of their own.
    varies_with: Callable[[Settings], tuple] = lambda settings: ()


def _threads(settings: Settings) -> tuple:
    return (settings.threads,)


def _threads_and_cache(settings: Settings) -> tuple:
    return (settings.threads, str(settings.model_cache_dir()))


def _timeouts_and_key(settings: Settings) -> tuple:
    return (
        settings.llm_timeout,
        settings.first_token_timeout,
        settings.connect_timeout,
        _api_key(),
    )


_REGISTRY: dict[str, Backend] = {}
# The process's loaded LLMs: (name, *varies_with(settings)) -> instance. A model is loaded once
# and shared by every caller that asks for it with the same settings.
_LOADED: dict[tuple, LLM] = {}
_LOAD_LOCK = threading.Lock()


def register(backend: Backend) -> None:
    _REGISTRY[backend.name] = backend


def backends() -> list[Backend]:
    return list(_REGISTRY.values())


def get_llm(name: str, settings: Settings | None = None) -> LLM:
    """The backend called `name`, loaded once per process for the settings it is built from."""
    settings = settings or Settings()
    backend = _lookup(name)
    key = (name, *backend.varies_with(settings))
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = backend.factory(name, settings)
        return _LOADED[key]


def _lookup(name: str) -> Backend:
    if name in _REGISTRY and not _REGISTRY[name].is_prefix:
        return _REGISTRY[name]
    prefix = name.split(":", 1)[0] + ":"
    if ":" in name and prefix in _REGISTRY:
        return _REGISTRY[prefix]
    valid = ", ".join(b.name + ("…" if b.is_prefix else "") for b in _REGISTRY.values())
    raise LLMError(f"Unknown LLM {name!r}. Valid names: {valid}.")


def _bundled_factory(name: str, settings: Settings) -> LLM:
    path = ensure_gguf(BUNDLED[name], settings.model_cache_dir())
    return LlamaCppLLM(name, path, threads=settings.threads)


def _gguf_factory(name: str, settings: Settings) -> LLM:
    path = Path(name.split(":", 1)[1]).expanduser()
    return LlamaCppLLM(name, path, threads=settings.threads)


def _hf_factory(name: str, settings: Settings) -> LLM:
    parts = name.split(":")
    if len(parts) != 3:
        raise LLMError(
            f"{name!r}: write hf:REPO:FILE, e.g. hf:Qwen/Qwen2.5-3B-Instruct-GGUF:q4.gguf"
        )
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(parts[1], parts[2], cache_dir=str(settings.model_cache_dir()))
    except Exception as exc:  # the hub client raises many kinds; all mean "not downloadable"
        raise LLMError(
            f"Cannot download {parts[2]} from {parts[1]} ({type(exc).__name__}). This machine "
            "may be offline: copy the GGUF file here and use gguf:/path/to/file.gguf instead."
        ) from exc
    return LlamaCppLLM(name, Path(path), threads=settings.threads)


def _openai_factory(name: str, settings: Settings) -> LLM:
    target = name.split(":", 1)[1]
    url, _, model = target.partition("#")
    if not url.startswith(("http://", "https://")):
        raise LLMError(f"{name!r}: write openai:http://HOST:PORT/v1#MODEL")
    return OpenAICompatibleLLM(
        name,
        url,
        model,
        timeout=settings.llm_timeout,
        first_token_timeout=settings.first_token_timeout,
        connect_timeout=settings.connect_timeout,
    )


for _model in BUNDLED.values():
    register(
        Backend(
            name=_model.name,
            kind="llama.cpp",
            description=_model.description,
            factory=_bundled_factory,
            available=_model.is_installed,
            path=lambda settings, m=_model: str(settings.model_cache_dir() / m.filename),
            varies_with=_threads_and_cache,
        )
    )
register(
    Backend(
        "gguf:",
        "llama.cpp",
        "any local GGUF file: gguf:/path/to/model.gguf",
        _gguf_factory,
        is_prefix=True,
        varies_with=_threads,
    )
)
register(
    Backend(
        "hf:",
        "llama.cpp",
        "a GGUF from the Hugging Face hub (online only): hf:REPO:FILE",
        _hf_factory,
        is_prefix=True,
        varies_with=_threads_and_cache,
    )
)
register(
    Backend(
        "openai:",
        "openai",
        "an OpenAI-compatible server (vLLM, llama.cpp server, "
        "Ollama): openai:http://HOST:PORT/v1#MODEL",
        _openai_factory,
        is_prefix=True,
        varies_with=_timeouts_and_key,
    )
)
register(
    Backend(
        "extractive",
        "extractive",
        "no LLM: the best evidence sentences, cited",
        lambda name, settings: ExtractiveLLM(),
    )
)
