"""Near-duplicate documents: the same text saved as .txt and .html, reposted by another portal, uploaded twice.

A document's fingerprint is a bottom-k sketch (the K smallest 64-bit hashes) of the 5-character shingles of its
body with whitespace and punctuation removed, so chrome the segmenter already dropped, line breaks, full/half-width
punctuation and a changed file name make no difference. Two sketches estimate the shingles' Jaccard similarity.

Threshold: on the corpus's development part (tests/data/docs/dev, 17 distinct documents, 136 pairs) the most similar
two *different* documents share J = 0.055 (the genre's stock phrases), while a report and its repost as a portal
page score J = 1.0, and the same repost with one of its 9 paragraphs reworded still scores 0.78.
DUPLICATE_JACCARD = 0.6 sits between them with a margin on both sides (a report and next year's report of the same
region share their outline and stock phrases, not most of their sentences).
"""
from __future__ import annotations

import hashlib
import re

K = 128
SHINGLE = 5
DUPLICATE_JACCARD = 0.6
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    return _NOISE.sub("", text)


def fingerprint(text: str) -> str:
    """Space-separated hex of the K smallest shingle hashes (fewer for a short text); "" for an empty one."""
    norm = normalise(text)
    shingles = {norm[i : i + SHINGLE] for i in range(max(1, len(norm) - SHINGLE + 1))} if norm else set()
    hashes = sorted({int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") for s in shingles})
    return " ".join(f"{h:x}" for h in hashes[:K])


def jaccard(a: str, b: str) -> float:
    """Estimated Jaccard similarity of two fingerprints' shingle sets (bottom-k estimator)."""
    sa, sb = {int(x, 16) for x in a.split()}, {int(x, 16) for x in b.split()}
    if not sa or not sb:
        return 0.0
    union_k = sorted(sa | sb)[: min(K, len(sa | sb))]
    return sum(1 for h in union_k if h in sa and h in sb) / len(union_k)


def find_duplicate(fp: str, others: list[tuple[str, str]]) -> tuple[str, float] | None:
    """The most similar of `others` ([(doc_id, fingerprint)]) if it is a near-duplicate: (doc_id, similarity)."""
    best: tuple[str, float] | None = None
    for doc_id, other in others:
        score = jaccard(fp, other)
        if score >= DUPLICATE_JACCARD and (best is None or score > best[1]):
            best = (doc_id, score)
    return best
