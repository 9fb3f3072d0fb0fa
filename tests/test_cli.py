"""The `qa` command line, run as a user would: a real subprocess over the seed index."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from qa.settings import PROJECT_ROOT


def qa(seed_settings, *args, input_file=None):
    env = {**os.environ, "QA_DATA_DIR": str(seed_settings.data_dir), "QA_EMBED_CACHE": str(seed_settings.embed_cache_path)}
    cmd = [sys.executable, "-m", "qa.cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=600)


def test_docs_json(seed_index, seed_settings):
    out = qa(seed_settings, "docs", "--json")
    assert out.returncode == 0, out.stderr
    docs = json.loads(out.stdout)
    assert len(docs) == 11 and {"region", "province", "level", "year", "kind", "title", "source", "published"} <= set(docs[0])


def test_search_batch_jsonl(seed_index, seed_settings, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "a", "question": "克拉玛依调解成功率"}\n{"id": "b", "question": "米东区网上可办率"}\n', encoding="utf-8")
    out = qa(seed_settings, "search", "--input", str(questions), "--k", "3", "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(l) for l in out.stdout.splitlines()]
    assert [l["id"] for l in lines] == ["a", "b"]
    first = lines[0]["results"][0]
    assert {"rank", "chunk_id", "source", "region", "year", "section", "text", "score"} <= set(first)
    assert first["rank"] == 1 and first["region"] == "克拉玛依市" and "99.89%" in first["text"]
    assert len(lines[1]["results"]) == 3


def test_ask_batch_jsonl(seed_index, seed_settings, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": 1, "question": "哪些地区行政机关负责人出庭应诉率达100%?"}\n{"id": 2, "question": "上海的调解成功率"}\n', encoding="utf-8")
    out = qa(seed_settings, "ask", "--input", str(questions), "--json")
    assert out.returncode == 0, out.stderr
    first, second = (json.loads(l) for l in out.stdout.splitlines())
    assert first["id"] == 1 and not first["refused"] and "克拉玛依市" in first["answer"]
    assert {"n", "chunk_id", "source", "region", "year", "section", "text"} <= set(first["citations"][0])
    assert second["refused"] is True and second["citations"] == []


def test_bad_input_file_is_a_clear_error(seed_index, seed_settings, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    out = qa(seed_settings, "search", "--input", str(bad), "--json")
    assert out.returncode != 0 and "not JSON" in out.stderr


def test_ingest_reports_unreadable_files_and_exits_nonzero(seed_settings, tmp_path):
    (tmp_path / "x.txt").write_bytes(bytes(range(256)) * 10)
    env_dir = tmp_path / "data"
    out = subprocess.run([sys.executable, "-m", "qa.cli", "ingest", str(tmp_path), "--json"], capture_output=True, text=True,
                         env={**os.environ, "QA_DATA_DIR": str(env_dir), "QA_EMBED_CACHE": str(seed_settings.embed_cache_path)}, cwd=PROJECT_ROOT, timeout=300)
    assert out.returncode == 1
    result = json.loads(out.stdout)["results"][0]
    assert result["status"] == "failed" and "binary" in result["error"]


def test_ordinary_commands_print_no_library_warnings(seed_index, seed_settings):
    for args in (["--help"], ["status", "--json"], ["docs", "--json"], ["ingest", "--help"]):
        out = qa(seed_settings, *args)
        assert out.returncode == 0, (args, out.stderr)
        assert "Warning" not in out.stderr and "warn" not in out.stderr.lower(), (args, out.stderr)
    status = json.loads(qa(seed_settings, "status", "--json").stdout)
    assert status["catalog_backend"] == "sqlite" and status["documents"] == 11 and status["vectors"]["consistent"] is True


def test_ingest_shows_file_progress_with_time_left_unless_quiet(seed_settings, tmp_path):
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    for path in sorted((PROJECT_ROOT / "seeds").glob("00[04]*.txt")):
        shutil.copy(path, folder / path.name)
    env = {**os.environ, "QA_DATA_DIR": str(tmp_path / "data"), "QA_EMBED_CACHE": str(seed_settings.embed_cache_path)}
    run = lambda *extra: subprocess.run([sys.executable, "-m", "qa.cli", "ingest", str(folder), *extra], capture_output=True,  # noqa: E731
                                        text=True, env=env, cwd=PROJECT_ROOT, timeout=600)
    out = run("--force")
    assert out.returncode == 0, out.stderr
    assert "files: 100%" in out.stderr and "2/2" in out.stderr and "<" in out.stderr  # count and elapsed<left
    assert "Warning" not in out.stderr
    quiet = run("--quiet")
    assert quiet.returncode == 0 and "files:" not in quiet.stderr and "unchanged" in quiet.stderr
