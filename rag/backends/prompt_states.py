"""Evaluated prompt prefixes kept on disk, so that a new process does not read them again.

A state is llama.cpp's context (its KV cache) after the fixed part of a prompt: the system
prompt and the worked examples. It is only valid for the exact model file, prompt text, build
of llama.cpp and context size it was made with, so each file records that key in full and is
refused, and removed, when any part differs. One file per model and prompt set ("slot"): a
newer key replaces the older file. The folder is capped in size; the least recently used
files go first.

File layout: MAGIC, the header's length (4 bytes, little-endian), the header (JSON: key,
n_tokens, seed, state_size), the prompt's token ids (int32), then llama.cpp's state bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAGIC = b"RAGPSTATE1\n"
SUFFIX = ".state"


@dataclass(frozen=True)
class SavedState:
    """What llama.cpp needs to resume after a prefix: its tokens, its state bytes, its seed."""

    tokens: np.ndarray  # int32, the evaluated tokens in order
    data: bytes  # llama_state_get_data's bytes
    seed: int


class PromptStateStore:
    """A folder of saved prompt states, capped at `max_bytes` (0: nothing is kept)."""

    def __init__(self, folder: str | Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def path(self, slot: str, key: dict) -> Path:
        return self.folder / f"{_safe(slot)}.{key_digest(key)[:16]}{SUFFIX}"

    def load(self, slot: str, key: dict) -> SavedState | None:
        """The state saved in `slot` under exactly `key`, else None; files of the slot saved
        under another key are stale, and removed."""
        if not self.enabled:
            return None
        wanted = self.path(slot, key)
        self._remove_stale(slot, keep=wanted)
        try:
            with open(wanted, "rb") as handle:
                state = _read(handle, key)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("prompt state %s refused (%s): removed", wanted.name, exc)
            wanted.unlink(missing_ok=True)
            return None
        os.utime(wanted)  # recently used: the size cap removes others first
        return state

    def save(self, slot: str, key: dict, state: SavedState) -> Path | None:
        """Write `state` atomically, replace the slot's older files, keep the folder capped."""
        if not self.enabled:
            return None
        target = self.path(slot, key)
        header = json.dumps(
            {
                "key": key,
                "n_tokens": len(state.tokens),
                "seed": state.seed,
                "state_size": len(state.data),
            },
            sort_keys=True,
        ).encode()
        tokens = np.ascontiguousarray(state.tokens, dtype="<i4").tobytes()
        size = len(MAGIC) + 4 + len(header) + len(tokens) + len(state.data)
        if size > self.max_bytes:
            log.warning(
                "prompt state %s not saved: %.1f MB is over the cap of %.1f MB "
                "(setting prompt_state_mb)",
                target.name,
                size / 1e6,
                self.max_bytes / 1e6,
            )
            return None
        partial = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                dir=self.folder, prefix=".partial-", delete=False
            ) as handle:
                partial = Path(handle.name)
                handle.write(MAGIC + struct.pack("<I", len(header)) + header)
                handle.write(tokens)
                handle.write(state.data)
            os.replace(partial, target)
        except OSError as exc:  # a full or read-only disk costs speed, never an answer
            log.warning("prompt state %s not saved: %s", target.name, exc)
            if partial is not None:
                partial.unlink(missing_ok=True)
            return None
        self._remove_stale(slot, keep=target)
        self._cap(keep=target)
        return target

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob(f"*{SUFFIX}"))

    def _remove_stale(self, slot: str, keep: Path) -> None:
        for path in self.folder.glob(f"{_safe(slot)}.*{SUFFIX}") if self.folder.is_dir() else []:
            if path != keep:
                log.info("prompt state %s is stale (another model, prompt or build): removed", path)
                path.unlink(missing_ok=True)

    def _cap(self, keep: Path) -> None:
        """Remove the least recently used files until the folder fits in `max_bytes`."""
        files = []
        for path in self.files():
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed by another process meanwhile
                continue
            files.append((stat.st_mtime_ns, stat.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            log.info("prompt state %s removed: the folder is over prompt_state_mb", path.name)
            path.unlink(missing_ok=True)
            total -= size


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def text_digest(value) -> str:
    """The sha256 of a JSON-serialisable value (a prompt's messages)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _safe(slot: str) -> str:
    """`slot` as a file name: readable, and unique through a short hash of the original."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", slot).strip("._")[:60]
    return f"{readable}-{hashlib.sha256(slot.encode()).hexdigest()[:8]}"


def _read(handle, key: dict) -> SavedState:
    if handle.read(len(MAGIC)) != MAGIC:
        raise ValueError("not a prompt state file")
    (length,) = struct.unpack("<I", handle.read(4))
    header = json.loads(handle.read(length))
    saved = header.get("key") or {}
    if saved != key:
        differing = sorted(n for n in set(key) | set(saved) if key.get(n) != saved.get(n))
        raise ValueError(f"saved for another {', '.join(differing)}")
    count, size = int(header["n_tokens"]), int(header["state_size"])
    tokens = np.frombuffer(handle.read(4 * count), dtype="<i4").astype(np.intc)
    data = handle.read(size)
    if len(tokens) != count or len(data) != size or handle.read(1):
        raise ValueError("truncated or overlong file")
    return SavedState(tokens=tokens, data=data, seed=int(header["seed"]))
