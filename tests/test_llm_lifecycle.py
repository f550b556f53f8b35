"""The llama.cpp backend's lifecycle: prompt states kept on disk and refused when anything they
depend on changes, warming while the app answers, and a bounded number of loaded models."""

from __future__ import annotations

import json
import logging
import threading

import numpy as np
import pytest

from rag.answering import prompts
from rag.backends import llms
from rag.backends.llms import LLM, Backend, get_llm, loaded, register, unregister
from rag.backends.prompt_states import PromptStateStore, SavedState
from rag.config import Settings
from rag.errors import ConfigError, LLMError
from tests.conftest import HashingEmbedder, json_reply, served

KEY = {
    "format": 1,
    "model": "sha256:aaaa",
    "prompt": "p1",
    "llama_cpp": "0.3.36",
    "build": "AVX2 = 1",
    "n_ctx": 2048,
    "n_batch": 512,
}


def state(size: int = 1000, tokens: int = 50) -> SavedState:
    return SavedState(
        tokens=np.arange(tokens, dtype=np.intc), data=bytes(range(256)) * (size // 256), seed=7
    )


# --- saved prompt states ---------------------------------------------------------------------


def test_a_saved_state_comes_back_byte_for_byte(tmp_path):
    store = PromptStateStore(tmp_path, 10_000_000)
    saved = state()
    path = store.save("qwen.answer-fr", KEY, saved)
    assert path is not None and path.exists()
    loaded_state = store.load("qwen.answer-fr", KEY)
    assert loaded_state.data == saved.data and loaded_state.seed == 7
    assert loaded_state.tokens.tolist() == saved.tokens.tolist()


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "p2"},  # the system prompt or a worked example was edited
        {"model": "sha256:bbbb"},  # another model file under the same name
        {"llama_cpp": "0.3.37"},  # another llama-cpp-python
        {"build": "AVX2 = 1 | AVX512 = 1"},  # llama.cpp built for other CPU features
        {"n_ctx": 4096},
    ],
)
def test_a_saved_state_is_refused_after_any_change_and_the_stale_file_removed(tmp_path, change):
    store = PromptStateStore(tmp_path, 10_000_000)
    old = store.save("qwen.answer-fr", KEY, state())
    assert store.load("qwen.answer-fr", {**KEY, **change}) is None
    assert not old.exists()  # stale: removed, not left to fill the disk
    assert store.load("qwen.answer-fr", KEY) is None  # gone for the old key too


def test_a_file_that_lies_about_its_key_or_is_cut_short_is_refused(tmp_path, caplog):
    store = PromptStateStore(tmp_path, 10_000_000)
    path = store.save("qwen.answer-fr", KEY, state())
    forged = store.path("qwen.answer-fr", {**KEY, "prompt": "p2"})
    path.rename(forged)  # named for the new prompt, made for the old one
    with caplog.at_level(logging.WARNING):
        assert store.load("qwen.answer-fr", {**KEY, "prompt": "p2"}) is None
    assert "saved for another prompt" in caplog.text and not forged.exists()
    path = store.save("qwen.answer-fr", KEY, state())
    path.write_bytes(path.read_bytes()[:-10])
    assert store.load("qwen.answer-fr", KEY) is None and not path.exists()


def test_saving_replaces_the_slot_and_keeps_other_slots(tmp_path):
    store = PromptStateStore(tmp_path, 10_000_000)
    store.save("qwen.answer-fr", KEY, state())
    store.save("qwen.answer-en", KEY, state())
    store.save("qwen.answer-fr", {**KEY, "prompt": "p2"}, state())
    names = sorted(p.name.split(".")[1].rsplit("-", 1)[0] for p in store.files())
    assert names == ["answer-en", "answer-fr"] and len(store.files()) == 2


def test_the_folder_is_capped_and_the_least_recently_used_go_first(tmp_path):
    one = len(state(100_000).data)
    store = PromptStateStore(tmp_path, int(3.5 * one))
    for name in ("a", "b", "c"):
        store.save(f"m.{name}", KEY, state(100_000))
    store.load("m.a", KEY)  # a is used again: b is now the oldest
    store.save("m.d", KEY, state(100_000))
    kept = {p.name.split(".")[1].rsplit("-", 1)[0] for p in store.files()}
    assert kept == {"a", "c", "d"}
    assert sum(p.stat().st_size for p in store.files()) <= store.max_bytes
    assert PromptStateStore(tmp_path / "big", one // 2).save("m.a", KEY, state(100_000)) is None


def test_no_state_is_kept_when_the_cap_is_zero(tmp_path):
    store = PromptStateStore(tmp_path / "states", 0)
    assert store.save("m.a", KEY, state()) is None and store.load("m.a", KEY) is None
    assert not (tmp_path / "states").exists()


def test_state_settings_are_checked():
    assert Settings(model_cache="/m").prompt_state_folder().as_posix() == "/m/prompt-states"
    assert Settings(prompt_state_dir="/s").prompt_state_folder().as_posix() == "/s"
    with pytest.raises(ConfigError, match="prompt_state_mb"):
        Settings(prompt_state_mb=-1)
    with pytest.raises(ConfigError, match="max_loaded_models"):
        Settings(max_loaded_models=0)


def test_the_named_prefixes_are_the_start_of_every_prompt_the_pipeline_sends(seed_copy, tmp_path):
    """What is warmed and saved is exactly what the answers start with, in both languages and
    for broad questions too: otherwise warming would be wasted work."""
    from rag.service import Service, prompt_prefixes

    seen: list[list[dict]] = []

    class Recording(LLM):
        name = "recording"

        def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
            seen.append(messages)
            yield json_reply([])

    settings = Settings(index_dir=str(tmp_path / "index"), corpus_dir=str(seed_copy))
    settings = settings.replace(min_relevance=0.05, summary_points="written")  # every point asked
    service = Service.open(settings, embedder=HashingEmbedder(), llm=Recording())
    for question in (
        "Avec quel pays africain la Chine s'est-elle associée ?",
        "Which African country did China partner with?",
        "Résumez ce que disent les articles sur l'open source chinois.",
        "Summarise what the articles say about Chinese open-source AI.",
    ):
        service.ask(question)
    prefixes = prompt_prefixes()
    assert list(prefixes) == ["answer-fr", "answer-en", "broad-fr", "broad-en"]
    # The English broad question is first translated into the articles' language (a one-line
    # prompt, not worth warming); the other calls each start with a warmed prefix.
    translating = [
        m for m in seen if m[0]["content"] in prompts.TRANSLATE_QUESTION_PROMPTS.values()
    ]
    assert [m[-1]["content"] for m in translating] == [
        "Summarise what the articles say about Chinese open-source AI."
    ]
    sent = [m[:-1] for m in seen if m not in translating]  # one call per passage when broad
    assert all(prefix in list(prefixes.values()) for prefix in sent)
    assert all(prefix in sent for prefix in prefixes.values())


# --- warming while the app answers -----------------------------------------------------------


class SlowWarmingLLM(LLM):
    """Answers at once, while its warming lasts until the test lets it end."""

    name = "slow-warming"
    kind = "test"

    def __init__(self):
        super().__init__()
        self.started = threading.Event()
        self.finish = threading.Event()
        self.prefixes: dict[str, list[dict]] = {}

    def use_prefixes(self, prefixes):
        self.prefixes.update(prefixes)

    def warm(self):
        self.started.set()
        self.finish.wait(timeout=120)

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        """The first evidence passage, quoted and cited."""
        first = next(
            line for line in messages[-1]["content"].splitlines() if line.startswith("[1] ")
        )
        quote = first[len("[1] ") :]
        yield json_reply([{"answer": quote, "sources": [1], "text": quote}])


def test_the_served_app_answers_while_the_model_warms(seed_copy, tmp_path):
    from gradio_client import Client

    from rag.service import Service
    from ui.app import build_app, warming_status

    settings = Settings(
        index_dir=str(tmp_path / "index"), corpus_dir=str(seed_copy), min_relevance=0.05
    )
    llm = SlowWarmingLLM()
    service = Service.open(settings, embedder=HashingEmbedder(), llm=llm)
    assert set(llm.prefixes) == {"answer-fr", "answer-en", "broad-fr", "broad-en"}
    thread = service.start_warming()
    try:
        assert llm.started.wait(10) and service.warming()
        shown, timer = warming_status(service)
        assert shown["visible"] is True and timer.active is True
        with served(build_app(service)) as url:
            record = Client(url, verbose=False).predict(
                "Avec quel pays africain la Chine s'est-elle associée ?", api_name="/ask"
            )
            assert service.warming()  # still warming, and answered all the same
            assert not record["refused"] and "[1]" in record["text"]
            assert record["model"] == "slow-warming"
    finally:
        llm.finish.set()
        thread.join(10)
    shown, timer = warming_status(service)
    assert not service.warming() and shown["visible"] is False and timer.active is False


# --- loaded models bounded -------------------------------------------------------------------


class ResidentDouble(LLM):
    """A model that would hold memory: counts its releases, streams two pieces."""

    kind = "test"
    released: list[str] = []

    def __init__(self, name):
        super().__init__()
        self.name = name

    def stream(self, messages, schema=None, temperature=0.0, max_tokens=256):
        with self.in_use():
            yield "one "
            yield "two"

    def release(self):
        ResidentDouble.released.append(self.name)


@pytest.fixture
def doubles():
    """Three resident doubles in the registry (removed afterwards), nothing else loaded."""
    llms.unload_all()
    ResidentDouble.released = []
    names = ["double-a", "double-b", "double-c"]
    for name in names:
        register(Backend(name, "test", "a double", lambda n, s: ResidentDouble(n), resident=True))
    yield names
    for name in names:
        unregister(name)
    llms.unload_all()


def test_switching_through_every_listed_model_keeps_at_most_n_loaded(doubles, caplog):
    settings = Settings(max_loaded_models=2)
    listed = doubles + ["extractive"]
    with caplog.at_level(logging.WARNING, logger="rag.backends.llms"):
        for _ in range(3):
            for name in listed:
                llm = get_llm(name, settings)
                assert llm.name == name and not llm.closed
                assert len(loaded()) <= 2
    # Each switch to a third double unloaded the least recently used one, once, and said so.
    assert len(ResidentDouble.released) == 3 * 3 - 2
    assert ResidentDouble.released[:3] == ["double-a", "double-b", "double-c"]
    assert caplog.text.count("least recently used") == len(ResidentDouble.released)
    assert [m.name for m in loaded()] == ["double-b", "double-c"]
    assert get_llm("double-c", settings) is loaded()[-1]  # kept, not reloaded


def test_a_model_in_use_is_unloaded_only_when_its_answer_ends(doubles):
    settings = Settings(max_loaded_models=1)
    first = get_llm("double-a", settings)
    answer = first.stream([{"role": "user", "content": "?"}])
    assert next(answer) == "one "  # generating
    second = get_llm("double-b", settings)  # needs the room
    assert loaded() == [second] and first.closed and ResidentDouble.released == []
    assert list(answer) == ["two"]  # the answer in progress ends normally
    assert ResidentDouble.released == ["double-a"]
    with pytest.raises(LLMError, match="unloaded"):
        next(first.stream([{"role": "user", "content": "?"}]))
    assert get_llm("double-a", settings) is not first  # asked again: loaded again


# --- the real model (slow) -------------------------------------------------------------------


def resident_megabytes() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


QUESTION_FR = [
    {
        "role": "user",
        "content": "Sources :\n[1] La Chine s'est associée à la Zambie.\n\n"
        "Question : Avec quel pays la Chine s'est-elle associée ?",
    },
]


@pytest.fixture(scope="module")
def small_model():
    from rag.backends.bundled import BUNDLED, ensure_gguf

    model = BUNDLED["qwen2.5-coder-0.5b"]
    return model, ensure_gguf(model, Settings().model_cache_dir())


@pytest.mark.slow
def test_the_real_model_saves_its_prompt_states_and_refuses_them_after_a_change(
    small_model, tmp_path
):
    from rag.answering.prompts import answer_schema
    from rag.backends.llms import LlamaCppLLM
    from rag.service import prompt_prefixes

    model, path = small_model
    store = PromptStateStore(tmp_path / "states", 500_000_000)
    prefixes = {k: v for k, v in prompt_prefixes().items() if k.startswith("answer-")}
    schema = answer_schema(1)
    question = prefixes["answer-fr"] + QUESTION_FR

    def fresh(identity=f"sha256:{model.sha256}", named=prefixes):
        llm = LlamaCppLLM(model.name, path, identity=identity, store=store)
        llm.use_prefixes(named)
        return llm

    first = fresh()
    first.warm()  # evaluated and saved
    assert first.ready and first.loaded_from_disk == []
    assert len(store.files()) == 2
    sizes = sorted(p.stat().st_size for p in store.files())
    reply = first.complete(question, schema)
    assert "Zambie" in reply
    first.close()

    again = fresh()  # a new process would do the same: read from disk, not evaluated
    assert again.complete(question, schema) == reply
    assert again.loaded_from_disk == ["answer-fr"]
    again.close()

    edited = {**prefixes, "answer-fr": [dict(prefixes["answer-fr"][0], content="Réponds.")]}
    changed_prompt = fresh(named=edited)
    changed_prompt.complete(edited["answer-fr"] + QUESTION_FR, schema)
    assert changed_prompt.loaded_from_disk == []  # refused: the prompt changed
    changed_prompt.close()

    other_model = fresh(identity="sha256:another-file")
    other_model.complete(question, schema)
    assert other_model.loaded_from_disk == []  # refused: another model file
    other_model.close()
    assert len(store.files()) == 2  # each refused state was replaced, not kept beside
    print(json.dumps({"state_bytes_0.5b": sizes}))


@pytest.mark.slow
def test_switching_models_keeps_memory_bounded_and_frees_the_unloaded_one(small_model):
    """Two instances of the 0.5B model (two thread settings) and the extractive mode, cycled
    three times with room for one model: each switch frees the other instance."""
    llms.unload_all()
    settings = [Settings(max_loaded_models=1, threads=t, prompt_state_mb=0) for t in (1, 2)]
    rss = []
    for _ in range(3):
        for name, setting in [
            ("qwen2.5-coder-0.5b", settings[0]),
            ("extractive", settings[0]),
            ("qwen2.5-coder-0.5b", settings[1]),
        ]:
            llm = get_llm(name, setting)
            if name != "extractive":
                assert "Zambie" in llm.complete(QUESTION_FR, max_tokens=12)
            assert len(loaded()) <= 1
            rss.append(resident_megabytes())
    llms.unload_all()
    one_model = rss[0]
    # Two 0.5B instances at once hold ~0.8 GB more than one (weights mapped twice, logits,
    # KV cache): staying within 300 MB of one instance means the other was freed each time.
    assert max(rss) < one_model + 300, rss


def test_a_gguf_file_is_identified_by_its_size_time_and_header(tmp_path):
    import os

    from rag.backends.bundled import gguf_identity

    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + bytes(5000))
    first, before = gguf_identity(path), path.stat()
    assert gguf_identity(path) == first
    path.write_bytes(b"GGUF" + bytes(4999) + b"x")  # same size and time, another header
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    second = gguf_identity(path)
    assert path.stat().st_size == before.st_size and second != first
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1))  # rewritten, same bytes
    assert gguf_identity(path) != second
