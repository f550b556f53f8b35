"""LLM backends behind one method, `stream(messages, schema)`, and a registry keyed by name."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.backends.bundled import BUNDLED, ensure_gguf, gguf_identity
from rag.backends.prompt_states import PromptStateStore, SavedState, text_digest
from rag.config import Settings
from rag.errors import LLMError
from rag.threads import llama_threads

log = logging.getLogger(__name__)


class LLM(ABC):
    """A chat model. Backends implement `stream`; `schema`, when given, constrains the output.

    A backend that holds resources frees them in `release`; `close` calls it at once, or when
    the generation or warming in progress (`in_use`) ends, never in the middle of one.
    """

    name: str = "llm"
    kind: str = "llm"

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._users = 0
        self._closed = False

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

    def judge(self, system: str, asked: str, passages: list[str], ask: str) -> list[float] | None:
        """How likely the model finds each passage to answer: for each, the log-odds of "yes"
        against "no" as the first word of its reply to `system` and the user message
        `asked` + passage + `ask`. None when the backend cannot read its token
        probabilities (then the caller does without)."""
        return None

    def use_prefixes(self, prefixes: dict[str, list[dict]]) -> None:
        """Name the fixed message prefixes that prompts start with (the system prompt and
        worked examples of each prompt set), so that `warm` can evaluate them ahead of the
        first question and the backend can keep them evaluated. Nothing to do by default."""

    def warm(self) -> None:
        """Evaluate the prefixes given to `use_prefixes` now; nothing to do by default."""

    @property
    def ready(self) -> bool:
        """Whether every prefix given to `use_prefixes` is evaluated."""
        return True

    @contextmanager
    def in_use(self) -> Iterator[None]:
        """Held while generating or warming: `close` waits for the last user to finish."""
        with self._guard:
            if self._closed:
                raise LLMError(f"{self.name} was unloaded to bound memory: ask again.")
            self._users += 1
        try:
            yield
        finally:
            with self._guard:
                self._users -= 1
                free = self._closed and not self._users
            if free:
                self.release()

    def close(self) -> None:
        """Free the model now, or as soon as the generation in progress ends."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            free = not self._users
        if free:
            self.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def release(self) -> None:
        """Free what the backend holds (called once, when no generation is running)."""


class ExtractiveLLM(LLM):
    """No model at all: the answer pipeline quotes the best evidence sentences instead."""

    name = "extractive"
    kind = "extractive"

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        raise LLMError("The extractive backend does not generate text.")


# One generation at a time in this process, whichever model, and warming counts as one: a
# llama.cpp context is not safe to use from two threads, and each model already runs on the
# whole thread budget, so two at once would only slow each other down.
_GENERATION_LOCK = threading.Lock()
# Evaluated prompt prefixes kept in memory per model: French and English, factual and broad.
# One holds the model's KV cache for ~700 tokens (16 MB for the 1.5B model), not the logits.
PREFIX_STATES_IN_MEMORY = 4
# The message that closes a prefix when it is evaluated alone: the chat template renders the
# prefix exactly as it renders it before a real question, and the next user turn's opening
# tokens are evaluated too.
PROBE = {"role": "user", "content": ""}
STATE_FORMAT = 1  # of the saved state files' keys; a new layout makes old files stale
STATE_SEED = 0  # the sampling seed after a prefix state (reproducible at temperature > 0)
# How a model starts a reply that says yes or no (French and English), for `LLM.judge`.
JUDGE_YES = ("Oui", "oui", "Yes", "yes")
JUDGE_NO = ("Non", "non", "No", "no")
TOP_LOGPROBS = 20  # first-token choices asked of a server (OpenAI's API lists at most 20)


def yes_no_odds(choices: dict[str, float]) -> float:
    """The log-odds of yes against no from a reply's first-token choices (token: log-probability),
    as a server lists its most likely ones: a token counts for the word it begins. A side
    missing from the list is given the least likely listed probability, a bound on its own."""
    floor = min(choices.values())

    def side(words: tuple[str, ...]) -> float:
        found = [
            logprob
            for token, logprob in choices.items()
            if (text := token.lstrip()) and any(word.startswith(text) for word in words)
        ]
        return _log_sum_exp(np.array(found)) if found else floor

    return side(JUDGE_YES) - side(JUDGE_NO)


def _log_sum_exp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + float(np.log(np.exp(values - top).sum()))


class LlamaCppLLM(LLM):
    """A local GGUF model run in-process by llama-cpp-python, with grammar-constrained output.

    Only llama-cpp-python's public API is used: `create_chat_completion` (the GGUF's own chat
    template) with a grammar made by `LlamaGrammar.from_json_schema`; `load_state` and the C
    API's `llama_state_get_data` for the evaluated prompt prefixes, which `store` keeps on
    disk between runs.
    """

    kind = "llama.cpp"

    def __init__(
        self,
        name: str,
        model_path: Path,
        threads: int = 0,
        context: int = 2048,
        identity: str | None = None,
        store: PromptStateStore | None = None,
    ):
        super().__init__()
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
        self.identity = identity or gguf_identity(self.model_path)
        self.store = store
        self._grammars: dict[str, object] = {}
        self._prefixes: dict[str, tuple[str, list[dict]]] = {}  # digest -> (name, messages)
        self._states: OrderedDict[str, object] = OrderedDict()  # digest -> LlamaState
        self._holding: str | None = None  # digest of the prefix the context starts with
        self._formatter = None  # the chat template as a formatter, for `judge`
        self._yes_no: tuple[list[int], list[int]] | None = None  # their tokens, for `judge`
        self.loaded_from_disk: list[str] = []  # prefix names whose state was read from disk

    def use_prefixes(self, prefixes: dict[str, list[dict]]) -> None:
        for name, messages in prefixes.items():
            self._prefixes[text_digest(messages)] = (name, list(messages))

    @property
    def ready(self) -> bool:
        return all(digest in self._states for digest in self._prefixes)

    def warm(self) -> None:
        """Evaluate (or read from disk) every named prefix, one generation slot at a time, so
        that questions asked meanwhile are answered between two prefixes."""
        prefixes = [messages for _name, messages in self._prefixes.values()]
        # The first one again at the end: the context then holds the likeliest first prompt.
        for messages in prefixes + prefixes[:1]:
            if self._closed:
                return
            with _GENERATION_LOCK, self.in_use():
                self._enter(messages)

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        grammar = self._grammar(schema) if schema else None
        with _GENERATION_LOCK, self.in_use():
            try:
                if len(messages) > 1:
                    self._enter(messages[:-1])
                else:
                    self._holding = None
                chunks = self._llama.create_chat_completion(
                    messages=messages,
                    grammar=grammar,
                    stream=True,
                    temperature=temperature,
                    max_tokens=max_tokens,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except (RuntimeError, ValueError) as exc:
                self._holding = None
                raise LLMError(f"llama.cpp failed: {exc}") from exc

    def judge(self, system, asked, passages, ask):
        import llama_cpp

        with _GENERATION_LOCK, self.in_use():
            self._holding = None  # the context will hold the judging prompt
            try:
                before, after = self._render_around(system, asked, ask)
                shared = self._llama.tokenize(before.encode(), add_bos=False, special=True)
                # Only what the context does not already hold (the last judging prompt's system
                # part, usually) is evaluated.
                held = self._llama.input_ids[: self._llama.n_tokens]
                self._llama.n_tokens = min(_common_prefix(held, shared), len(shared) - 1)
                self._llama.eval(shared[self._llama.n_tokens :])
                vocabulary = self._llama.n_vocab()
                yes, no = self._answer_tokens()
                odds = []
                for passage in passages:
                    self._llama.n_tokens = len(shared)  # back to the shared start
                    text = " ".join(passage.split()) + after
                    self._llama.eval(
                        self._llama.tokenize(text.encode(), add_bos=False, special=True)
                    )
                    pointer = llama_cpp.llama_get_logits_ith(self._llama.ctx, -1)
                    logits = np.ctypeslib.as_array(pointer, shape=(vocabulary,)).astype(np.float64)
                    odds.append(_log_sum_exp(logits[yes]) - _log_sum_exp(logits[no]))
                return odds
            except (RuntimeError, ValueError) as exc:
                raise LLMError(f"llama.cpp failed: {exc}") from exc

    def _render_around(self, system: str, asked: str, ask: str) -> tuple[str, str]:
        """The judging prompt through the model's own chat template, cut where the passage
        goes: the text before it (the same for every passage) and after it."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if self._formatter is None:
            metadata = self._llama.metadata
            self._formatter = Jinja2ChatFormatter(
                template=metadata["tokenizer.chat_template"],
                eos_token=self._llama.detokenize([self._llama.token_eos()]).decode(),
                bos_token=self._llama.detokenize([self._llama.token_bos()]).decode(),
            )
        marker = "\u241e"  # a character no passage holds, replaced by each passage
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": f"{asked}{marker}{ask}"},
        ]
        prompt = self._formatter(messages=messages).prompt
        before, after = prompt.split(marker)
        return before, after

    def _answer_tokens(self) -> tuple[list[int], list[int]]:
        """The first tokens of the ways the model says yes and no (read once)."""

        def first(word: str) -> int:
            return self._llama.tokenize(word.encode(), add_bos=False, special=False)[0]

        if self._yes_no is None:
            self._yes_no = (
                sorted({first(w) for w in JUDGE_YES}),
                sorted({first(w) for w in JUDGE_NO}),
            )
        return self._yes_no

    def release(self) -> None:
        llama, self._llama = self._llama, None
        self._states.clear()
        if llama is not None:
            llama.close()
            del llama
            gc.collect()  # its numpy buffers (the logits: 311 MB for Qwen) go now, not later

    # --- prompt prefixes --------------------------------------------------------------------

    def _grammar(self, schema: dict):
        from llama_cpp import LlamaGrammar

        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def _enter(self, prefix: list[dict]) -> None:
        """Make the context start with `prefix` evaluated: already there, kept in memory,
        saved on disk, or evaluated now (and then kept, and saved when it is a named one)."""
        digest = text_digest(prefix)
        if self._holding == digest:
            return
        self._holding = None
        state = self._states.get(digest)
        from_disk = state is None
        if from_disk:
            state = self._saved_state(digest, prefix)
        if state is not None:
            try:
                self._llama.load_state(state)
            except RuntimeError as exc:
                log.warning("prompt state of %s not loaded (%s): evaluated again", self.name, exc)
                state = None
            else:
                if from_disk:
                    self.loaded_from_disk.append(self._prefixes[digest][0])
        if state is None:
            state = self._evaluate(digest, prefix)
        self._states[digest] = state
        self._states.move_to_end(digest)
        while len(self._states) > max(PREFIX_STATES_IN_MEMORY, len(self._prefixes)):
            self._states.popitem(last=False)
        self._holding = digest

    def _evaluate(self, digest: str, prefix: list[dict]):
        """Evaluate `prefix` alone (the public API generates one token after it) and return
        its state; save it when the prefix is a named one."""
        self._llama.create_chat_completion(
            messages=[*prefix, PROBE], max_tokens=1, temperature=0.0, seed=STATE_SEED
        )
        state = self._snapshot()
        named = self._prefixes.get(digest)
        if named and self.store is not None:
            saved = SavedState(
                tokens=state.input_ids[: state.n_tokens], data=state.llama_state, seed=state.seed
            )
            self.store.save(self._slot(named[0]), self._state_key(prefix), saved)
        return state

    def _snapshot(self):
        """The context's state as a `LlamaState`, without the logits buffer.

        `Llama.save_state` also copies n_batch x vocabulary floats of logits (217 MB for a
        358-token prompt with Qwen's vocabulary; 1.3-1.5 s on the 0.5B model here), which
        nothing reads back: `load_state` only needs one row, and generation samples from
        llama.cpp's own logits. So the state bytes are read with the C API's public calls.
        """
        import ctypes

        import llama_cpp

        ctx = self._llama.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(ctx, buffer, size)
        if written > size:
            raise RuntimeError("llama.cpp wrote more state than it announced")
        return llama_cpp.LlamaState(
            input_ids=self._llama.input_ids.copy(),
            scores=np.zeros((1, self._llama.n_vocab()), dtype=np.single),
            n_tokens=self._llama.n_tokens,
            llama_state=ctypes.string_at(buffer, written),
            llama_state_size=written,
            seed=STATE_SEED,
        )

    def _saved_state(self, digest: str, prefix: list[dict]):
        """The state of a named prefix saved by an earlier run, or None."""
        from llama_cpp import LlamaState

        named = self._prefixes.get(digest)
        if not named or self.store is None:
            return None
        saved = self.store.load(self._slot(named[0]), self._state_key(prefix))
        if saved is None:
            return None
        n_ctx = self._llama.n_ctx()
        if len(saved.tokens) >= n_ctx:
            return None
        input_ids = np.zeros(n_ctx, dtype=np.intc)
        input_ids[: len(saved.tokens)] = saved.tokens
        return LlamaState(
            input_ids=input_ids,
            scores=np.zeros((1, self._llama.n_vocab()), dtype=np.single),
            n_tokens=len(saved.tokens),
            llama_state=saved.data,
            llama_state_size=len(saved.data),
            seed=saved.seed,
        )

    def _slot(self, prefix_name: str) -> str:
        return f"{self.name}.{prefix_name}"

    def _state_key(self, prefix: list[dict]) -> dict:
        """Everything a saved state is only valid for: the model file, the prompt text, the
        build of llama.cpp and the context's shape."""
        import llama_cpp

        return {
            "format": STATE_FORMAT,
            "model": self.identity,
            "prompt": text_digest([*prefix, PROBE]),
            "llama_cpp": llama_cpp.__version__,
            "build": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
            "n_ctx": self._llama.n_ctx(),
            "n_batch": self._llama.n_batch,
        }


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
        super().__init__()
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.model = model or "default"
        self.timeout = timeout  # the whole answer
        self.first_token_timeout = first_token_timeout  # also the longest silence mid-answer
        self.connect_timeout = connect_timeout
        self.api_key = _api_key()
        self._form: str | None = None  # the form the server accepted last time
        self._lists_choices: bool | None = None  # whether it returns token probabilities

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

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
                    headers=self._headers(),
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

    def judge(self, system, asked, passages, ask):
        """As `LLM.judge`, from the `top_logprobs` of a one-token reply per passage (vLLM,
        llama.cpp's server and OpenAI list them); None for a server that does not."""
        if self._lists_choices is False:
            return None
        odds = []
        for passage in passages:
            messages = [
                {"role": "system", "content": system},
                {"role": "user", "content": asked + " ".join(passage.split()) + ask},
            ]
            choices = self._first_token_choices(messages)
            if choices is None:
                log.info(
                    "%s lists no token probabilities: its answers carry no confidence", self.name
                )
                self._lists_choices = False
                return None
            self._lists_choices = True
            odds.append(yes_no_odds(choices))
        return odds

    def _first_token_choices(self, messages: list[dict]) -> dict[str, float] | None:
        """The server's most likely first tokens of the reply, with their log-probabilities;
        None when it refuses the request or lists none."""
        import httpx

        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        try:
            response = httpx.post(
                f"{self.base_url}/chat/completions",
                json=body,
                headers=self._headers(),
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            raise LLMError(f"Cannot reach {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            return None
        try:
            first = response.json()["choices"][0]["logprobs"]["content"][0]
            listed = {c["token"]: float(c["logprob"]) for c in first["top_logprobs"]}
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        return listed or None

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
    # Holds a model in this process's memory: counted against `max_loaded_models`.
    resident: bool = False


def _threads(settings: Settings) -> tuple:
    return (settings.threads, *_states(settings))


def _threads_and_cache(settings: Settings) -> tuple:
    return (settings.threads, str(settings.model_cache_dir()), *_states(settings))


def _states(settings: Settings) -> tuple:
    return (str(settings.prompt_state_folder()), settings.prompt_state_mb)


def _timeouts_and_key(settings: Settings) -> tuple:
    return (
        settings.llm_timeout,
        settings.first_token_timeout,
        settings.connect_timeout,
        _api_key(),
    )


@dataclass
class _Loaded:
    llm: LLM
    resident: bool


_REGISTRY: dict[str, Backend] = {}
# The process's loaded LLMs, least recently used first: (name, *varies_with(settings)) ->
# instance. A model is loaded once and shared by every caller that asks for it with the same
# settings; at most `max_loaded_models` of the resident ones stay loaded.
_LOADED: OrderedDict[tuple, _Loaded] = OrderedDict()
_LOAD_LOCK = threading.Lock()


def register(backend: Backend) -> None:
    _REGISTRY[backend.name] = backend


def unregister(name: str) -> None:
    """Remove backend `name` from the registry, and unload its loaded instances."""
    _REGISTRY.pop(name, None)
    with _LOAD_LOCK:
        gone = [key for key in _LOADED if key[0] == name]
        closing = [_LOADED.pop(key).llm for key in gone]
    for llm in closing:
        llm.close()


def backends() -> list[Backend]:
    return list(_REGISTRY.values())


def unload_all() -> None:
    """Unload every loaded backend (each after its generation in progress, if any)."""
    with _LOAD_LOCK:
        closing = [entry.llm for entry in _LOADED.values()]
        _LOADED.clear()
    for llm in closing:
        llm.close()


def loaded() -> list[LLM]:
    """The loaded resident models (those that hold memory), least recently used first."""
    with _LOAD_LOCK:
        return [entry.llm for entry in _LOADED.values() if entry.resident]


def get_llm(name: str, settings: Settings | None = None) -> LLM:
    """The backend called `name`, loaded once per process for the settings it is built from.

    At most `settings.max_loaded_models` resident models stay loaded: before another one is
    loaded, the least recently used is unloaded (after its generation in progress, if any).
    """
    settings = settings or Settings()
    backend = _lookup(name)
    key = (name, *backend.varies_with(settings))
    with _LOAD_LOCK:
        entry = _LOADED.get(key)
        if entry is not None and not entry.llm.closed:
            _LOADED.move_to_end(key)
            return entry.llm
        _LOADED.pop(key, None)
        if backend.resident:  # room first, so that memory never holds one model too many
            _evict(settings.max_loaded_models - 1, name)
        _LOADED[key] = _Loaded(backend.factory(name, settings), backend.resident)
        return _LOADED[key].llm


def _evict(keep: int, reason: str) -> None:
    """Unload the least recently used resident models until `keep` remain (under the lock)."""
    resident = [key for key, entry in _LOADED.items() if entry.resident]
    for key in resident[: max(0, len(resident) - keep)]:
        llm = _LOADED.pop(key).llm
        log.warning(
            "unloading %s, the least recently used model, to load %s "
            "(at most %d kept loaded: setting max_loaded_models)",
            llm.name,
            reason,
            keep + 1,
        )
        llm.close()


def _lookup(name: str) -> Backend:
    if name in _REGISTRY and not _REGISTRY[name].is_prefix:
        return _REGISTRY[name]
    prefix = name.split(":", 1)[0] + ":"
    if ":" in name and prefix in _REGISTRY:
        return _REGISTRY[prefix]
    valid = ", ".join(b.name + ("…" if b.is_prefix else "") for b in _REGISTRY.values())
    raise LLMError(f"Unknown LLM {name!r}. Valid names: {valid}.")


def _store(settings: Settings) -> PromptStateStore:
    return PromptStateStore(settings.prompt_state_folder(), settings.prompt_state_mb * 1_000_000)


def _bundled_factory(name: str, settings: Settings) -> LLM:
    model = BUNDLED[name]
    path = ensure_gguf(model, settings.model_cache_dir())
    return LlamaCppLLM(
        name,
        path,
        threads=settings.threads,
        identity=f"sha256:{model.sha256}",  # verified by ensure_gguf
        store=_store(settings),
    )


def _gguf_factory(name: str, settings: Settings) -> LLM:
    path = Path(name.split(":", 1)[1]).expanduser()
    return LlamaCppLLM(name, path, threads=settings.threads, store=_store(settings))


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
    return LlamaCppLLM(name, Path(path), threads=settings.threads, store=_store(settings))


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
            resident=True,
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
        resident=True,
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
        resident=True,
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


def _common_prefix(held, tokens: list[int]) -> int:
    """How many first tokens `held` and `tokens` share."""
    count = min(len(held), len(tokens))
    differ = np.flatnonzero(np.asarray(held[:count]) != np.asarray(tokens[:count]))
    return int(differ[0]) if len(differ) else count
