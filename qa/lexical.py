"""BM25 fields over the chunks: jieba words, character bigrams, and the bigrams of each chunk's parent.

On the seed reports jieba words are the stronger single signal (numbers and names match exactly). On outside
documents (NCPQA: 2020 notices, ministry names, no line breaks) jieba splits names and terms the questions
write differently, and character bigrams recover them. The parent field (a chunk's top-level section, or its
whole document when it has no outline) says which passage a question is about when the window alone does not.
Whole documents as parents cost the seeds (long multi-topic reports); sections did not (docs/eval.md, "NCPQA ablation").

Invariant: every field is built from the same catalogue version as `ids`; `position[id]` indexes every array
that a `*_scores` method returns.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

_STOP = set(
    "的 了 和 与 及 是 在 对 为 以 等 中 有 也 并 将 把 被 由 于 其 之 或 而 且 这 那 哪 哪些 哪个 什么 多少 几 吗 呢 吧 啊 "
    "是否 是不是 不是 有没有 怎么 怎样 如何 为什么 请问 一下 情况 方面 地区 地方 工作 各 个 年 我 我们 你 您 他 她 它 上 下 啥 咋 "
    "谁 还 都 就 又 再 已 已经 得 地 着 过 呀 嘛 么 要 会 能 可 可以 说 讲 提到 提及 提出 谈到 承认 自己 具体 一共 总共 报告 里 中的 里面".split()
)
_TOKEN_OK = re.compile(r"[\w%]", re.UNICODE)

_init_lock = threading.Lock()
# bm25s logs every index build at DEBUG; a library that sets the root logger to DEBUG (seen in `qa bench` after the
# local LLM loads) would print one line per catalogue version. bm25s sets its own logger to DEBUG when it is
# imported (lazily, after this module), so a level set here is undone: a filter stays.
logging.getLogger("bm25s").addFilter(lambda record: record.levelno >= logging.WARNING)

# Bumped when a snapshot's layout changes; an older snapshot is ignored and rebuilt from the catalogue.
FIELDS_VERSION = 4


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    # jieba writes its prefix-dict cache to the temp dir; keep it per user so CI and developers don't collide.
    jieba.dt.tmp_dir = tempfile.gettempdir()
    with _init_lock:
        jieba.initialize()
    return jieba


def tokenize(text: str) -> list[str]:
    jieba = _jieba()
    out = []
    for token in jieba.lcut_for_search(text):
        token = token.strip().lower()
        if token and token not in _STOP and _TOKEN_OK.search(token):
            out.append(token)
    return out


# Runs of CJK characters give bigrams; runs of Latin letters, digits and figures (2020, 1.4, 50%) stay whole.
_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[a-z0-9%.]+")


def char_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of each CJK run (a run of one character is kept as it is), whole Latin/digit runs.

    Needs no dictionary, so a name jieba has never seen (北铃专用汽车, 浙里办) still matches piece by piece."""
    out: list[str] = []
    for m in _RUN.finditer(unicodedata.normalize("NFKC", text).lower()):
        run = m.group()
        if run[0].isascii():
            run = run.strip(".")
            if run:
                out.append(run)
        elif len(run) == 1:
            out.append(run)
        else:
            out += [run[i : i + 2] for i in range(len(run) - 1)]
    return out


def _bm25(tokens: list[list[str]]):
    import bm25s

    model = bm25s.BM25()
    if tokens:
        model.index([t or ["∅"] for t in tokens], show_progress=False)
    return model


class LexicalIndex:
    """A BM25 index over chunk tokens, saved as a folder beside the catalogue and rebuilt when the catalogue moves on."""

    def __init__(self, ids: list[str], tokens: list[list[str]], bigrams: list[list[str]] | None = None, parents: list[str] | None = None,
                 passages: list[bool] | None = None):
        """ids[i]'s jieba tokens are tokens[i]; bigrams[i] its character bigrams, parents[i] its parent's key and
        passages[i] whether it is a passage of a block of text rather than a report's window (all optional: without
        them the bigram and parent fields score zero and every chunk is a window, as in the evaluation baseline)."""
        self.passages = np.asarray(passages, dtype=bool) if passages is not None and len(passages) == len(ids) else None
        self.ids = ids
        self.position = {cid: i for i, cid in enumerate(ids)}
        df: dict[str, int] = {}
        for toks in tokens:
            for tok in set(toks):
                df[tok] = df.get(tok, 0) + 1
        n = max(len(ids), 1)
        self.idf = {tok: math.log((n + 1) / (c + 0.5)) for tok, c in df.items()}
        self.bm25 = _bm25(tokens) if ids else _bm25([])
        self._fields(bigrams, parents)

    @classmethod
    def consume(cls, fields: dict) -> "LexicalIndex":
        """LexicalIndex(**fields), emptying `fields` so that each input is freed as soon as its own field is built.

        The same index. Built from lists the caller still held, the three fields' inputs (~1.8 M token and ~9 M
        bigram references at 2,000 reports) all lived until the last field was built, under the BM25 builds' own
        peaks; ingest + BM25 build at 100x peaked at 817-824 MB (measured 2026-12-04, stand-in vectors)."""
        self = cls(fields.pop("ids"), fields.pop("tokens"), None, None, fields.pop("passages"))
        self._fields(fields.pop("bigrams"), fields.pop("parents"))
        return self

    def _fields(self, bigrams: list[list[str]] | None, parents: list[str] | None) -> None:
        """The bigram field per chunk, and per parent (a parent's text is its chunks' bigrams together)."""
        self.has_bigrams = bool(bigrams) and bigrams is not None and len(bigrams) == len(self.ids)
        self.bigram = _bm25(bigrams) if self.has_bigrams else None
        self.parent_of: list[int] = []
        self.parent_names: list[str] = []
        self.parent = None
        if self.has_bigrams and parents is not None:
            index: dict[str, int] = {}
            per_doc: list[list[str]] = []
            for doc_id, toks in zip(parents, bigrams):
                if doc_id not in index:
                    index[doc_id] = len(per_doc)
                    per_doc.append([])
                    self.parent_names.append(doc_id)
                per_doc[index[doc_id]] += toks
                self.parent_of.append(index[doc_id])
            bigrams = None  # freed here when the caller handed them over (consume), before the parent field's build
            self.parent = _bm25(per_doc)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        if not self.ids or not query_tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(query_tokens), dtype=np.float32)

    def bigram_scores(self, question: str) -> np.ndarray:
        """BM25 of the question's character bigrams against each chunk (zeros when the field is absent)."""
        toks = char_bigrams(question)
        if not self.ids or not toks or self.bigram is None:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.bigram.get_scores(toks), dtype=np.float32)

    def parent_scores(self, question: str) -> np.ndarray:
        """BM25 of the question's bigrams against each chunk's parent (section or document), one value per chunk."""
        toks = char_bigrams(question)
        if not self.ids or not toks or self.parent is None:
            return np.zeros(len(self.ids), dtype=np.float32)
        per_doc = np.asarray(self.parent.get_scores(toks), dtype=np.float32)
        return per_doc[np.asarray(self.parent_of, dtype=np.int64)]

    def weight(self, token: str) -> float:
        """How telling a token is; one the corpus never uses is as telling as the rarest."""
        return self.idf.get(token, math.log((len(self.ids) + 1) / 0.5))

    # Snapshots are immutable folders named by the catalogue version (bm25/v<version>), so replicas
    # sharing one data folder never read a folder another process is replacing.
    def save(self, root: Path, version: int) -> None:
        """Write a snapshot for this catalogue version (once; the first writer wins) and drop older ones."""
        root.mkdir(parents=True, exist_ok=True)
        target = root / f"v{version}"
        if not target.exists():
            tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
            try:
                if self.ids:
                    self.bm25.save(str(tmp), show_progress=False)
                    if self.bigram is not None:
                        self.bigram.save(str(tmp / "bigram"), show_progress=False)
                    if self.parent is not None:
                        self.parent.save(str(tmp / "parent"), show_progress=False)
                meta = {"version": version, "ids": self.ids, "idf": self.idf, "fields": FIELDS_VERSION,
                        "passages": None if self.passages is None else self.passages.astype(int).tolist(),
                        "bigrams": self.bigram is not None, "parent_of": self.parent_of, "parent_names": self.parent_names}
                (tmp / "ids.json").write_text(json.dumps(meta, ensure_ascii=False))
                os.rename(tmp, target)
            except OSError:
                pass  # another process published this version first (theirs is identical), or the disk refused: a snapshot is only a cache
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        _prune(root, version)

    @classmethod
    def load(cls, root: Path, version: int) -> "LexicalIndex | None":
        """The snapshot for this catalogue version, or None when there is none (or it vanished mid-read)."""
        folder = root / f"v{version}"
        try:
            meta = json.loads((folder / "ids.json").read_text())
            import bm25s

            self = cls.__new__(cls)
            self.ids = meta["ids"]
            self.position = {cid: i for i, cid in enumerate(self.ids)}
            self.idf = meta.get("idf", {})
            if meta.get("fields") != FIELDS_VERSION:
                return None  # written by a release without the bigram/document fields: rebuilt from the catalogue
            self.bm25 = bm25s.BM25.load(str(folder), show_progress=False) if self.ids else bm25s.BM25()
            self.has_bigrams = bool(meta.get("bigrams")) and bool(self.ids)
            self.bigram = bm25s.BM25.load(str(folder / "bigram"), show_progress=False) if self.has_bigrams else None
            self.parent_of, self.parent_names = meta.get("parent_of", []), meta.get("parent_names", [])
            self.passages = np.asarray(meta["passages"], dtype=bool) if meta.get("passages") is not None else None
            self.parent = bm25s.BM25.load(str(folder / "parent"), show_progress=False) if self.has_bigrams and self.parent_names else None
        except Exception:  # missing, pruned by a newer writer, or damaged: the caller rebuilds from the catalogue
            return None
        if meta.get("version") != version:
            return None
        return self


def _prune(root: Path, keep: int) -> None:
    """Remove snapshots older than `keep` (and the single-folder layout of earlier releases)."""
    for entry in root.iterdir():
        if entry.name.startswith(".tmp-"):
            if time.time() - entry.stat().st_mtime > 3600:  # left by a crashed writer
                shutil.rmtree(entry, ignore_errors=True)
            continue  # another process may be writing it
        number = entry.name[1:]
        if entry.name.startswith("v") and number.isdigit() and int(number) >= keep:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
