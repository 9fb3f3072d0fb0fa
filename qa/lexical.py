"""BM25 over jieba tokens. On these reports it is the stronger single signal: numbers and names match exactly."""
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


class LexicalIndex:
    """A BM25 index over chunk tokens, saved as a folder beside the catalogue and rebuilt when the catalogue moves on."""

    def __init__(self, ids: list[str], tokens: list[list[str]]):
        import bm25s

        self.ids = ids
        self.position = {cid: i for i, cid in enumerate(ids)}
        df: dict[str, int] = {}
        for toks in tokens:
            for tok in set(toks):
                df[tok] = df.get(tok, 0) + 1
        n = max(len(ids), 1)
        self.idf = {tok: math.log((n + 1) / (c + 0.5)) for tok, c in df.items()}
        self.bm25 = bm25s.BM25()
        if ids:
            self.bm25.index([t or ["∅"] for t in tokens], show_progress=False)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        if not self.ids or not query_tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(query_tokens), dtype=np.float32)

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
                (tmp / "ids.json").write_text(json.dumps({"version": version, "ids": self.ids, "idf": self.idf}, ensure_ascii=False))
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
            self.bm25 = bm25s.BM25.load(str(folder), show_progress=False) if self.ids else bm25s.BM25()
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
