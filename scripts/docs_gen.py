"""What `make docs` writes into docs/cli.md and docs/configuration.md, taken from the code.

The pages hold cog blocks (`[[[cog ... ]]]`) that call these functions; `make docs` reruns them
and tests/test_docs.py fails when the pages no longer match the code (`cog --check`).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import re

HELP_WIDTH = 100  # argparse wraps --help to the terminal: fixed here so the output is stable
DOCS = ("docs/cli.md", "docs/configuration.md")


def cli_help(*words: str) -> str:
    """The `--help` text of `rag WORDS...`, as the terminal prints it."""
    from rag.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_WIDTH + 2)  # argparse keeps two columns spare
    try:
        parser = build_parser()
        for word in words:
            parser = _subcommands(parser)[word]
        return parser.format_help().rstrip() + "\n"
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def commands() -> list[tuple[str, ...]]:
    """Every command of `rag`, depth first: ("ingest",), ("eval",), ("eval", "answers")..."""
    from rag.cli import build_parser

    found: list[tuple[str, ...]] = []

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        for name, sub in _subcommands(parser).items():
            found.append(words + (name,))
            walk(sub, words + (name,))

    walk(build_parser(), ())
    return found


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """One section per command: its help, in a code block."""
    parts = ["### rag\n", "```\n" + cli_help() + "```\n"]
    for words in commands():
        parts.append(f"\n### rag {' '.join(words)}\n")
        parts.append("```\n" + cli_help(*words) + "```\n")
    return "".join(parts)


@dataclasses.dataclass(frozen=True)
class SettingDoc:
    name: str
    kind: str
    default: object
    help: str

    @property
    def variable(self) -> str:
        return f"RAG_{self.name.upper()}"


def setting_docs() -> list[SettingDoc]:
    """Each `Settings` field with its help line from the class docstring."""
    from rag.config import Settings

    helps = settings_help()
    return [
        SettingDoc(
            f.name,
            "float" if f.default is None else type(f.default).__name__,
            f.default,
            helps.get(f.name, ""),
        )
        for f in dataclasses.fields(Settings)
    ]


def settings_help() -> dict[str, str]:
    """`name: help` lines of the `Settings` docstring (continuation lines indented)."""
    from rag.config import Settings

    helps: dict[str, str] = {}
    name = None
    for line in inspect.cleandoc(Settings.__doc__ or "").splitlines():
        field = re.match(r"^(\w+): (.+)$", line)
        if field:
            name = field.group(1)
            helps[name] = field.group(2).strip()
        elif name and line.startswith(" ") and line.strip():
            helps[name] += " " + line.strip()
        else:
            name = None
    return helps


def settings_table() -> str:
    """The settings as a Markdown table: name, variable, default, help."""
    rows = [
        "| setting (rag.toml) | environment variable | type | default | what it does |",
        "|---|---|---|---|---|",
    ]
    for doc in setting_docs():
        default = "unset" if doc.default is None else f"`{_toml_value(doc.default)}`"
        text = doc.help.replace("|", "\\|") or "**no help: add a line to the Settings docstring**"
        rows.append(f"| `{doc.name}` | `{doc.variable}` | {doc.kind} | {default} | {text} |")
    return "\n".join(rows) + "\n"


def example_toml() -> str:
    """A rag.toml that spells out every default."""
    lines = ["# rag.toml: every setting at its default"]
    for doc in setting_docs():
        if doc.default is None:  # unset: TOML has no null
            lines.append(f"# {doc.name} = (unset)")
        else:
            lines.append(f"{doc.name} = {_toml_value(doc.default)}")
    return "```toml\n" + "\n".join(lines) + "\n```\n"


def _toml_value(value: object) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str | bool) else repr(value)
