"""e5's tokenizer (XLM-R's SentencePiece unigram model) in ~40 MB instead of ~280 MB.

`tokenizers.Tokenizer.from_file(tokenizer.json)` holds 283 MB resident for a 16 MB file (measured 2026-12-04,
tokenizers 0.23.3): the unigram model keeps its 250,002 pieces in a byte trie whose every node is a hash map. Here
the library still does what is intricate — the normaliser (the precompiled NFKC charsmap), the Metaspace
pre-tokeniser and special-token splitting — on a copy of tokenizer.json whose model has only the special tokens,
while the unigram search itself (Viterbi over the pieces, as tokenizers' `Unigram::encode_optimized`) runs over a
Python dict of the pieces.

Invariant: `encode(text)` returns exactly the ids `Tokenizer.from_file(tokenizer.json)` with truncation at
`max_tokens` returns (tests/test_embeddings.py compares them on every seed paragraph and the synthetic corpus). A
text that names a special token (`<s>`, `<mask>` …) goes to the full library tokenizer, loaded only then.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

UNK_PENALTY = 10.0  # tokenizers' K_UNK_PENALTY: an unknown character scores min_score - 10


class UnigramTokenizer:
    def __init__(self, path: Path, max_tokens: int):
        from tokenizers import Tokenizer

        spec = json.loads(Path(path).read_text(encoding="utf-8"))
        model = spec["model"]
        if model.get("type") != "Unigram" or model.get("byte_fallback"):
            raise ValueError(f"{path}: not a unigram tokenizer without byte fallback")
        vocab = model.pop("vocab")
        self._unk = model["unk_id"]
        self._min_score = min(score for _, score in vocab)
        self._ids = {piece: i for i, (piece, _) in enumerate(vocab)}
        self._scores = [score for _, score in vocab]
        self._longest: dict[str, int] = {}  # first character → longest piece starting with it (bounds the search)
        for piece, _ in vocab:
            if piece and len(piece) > self._longest.get(piece[0], 0):
                self._longest[piece[0]] = len(piece)
        specials = [t["content"] for t in spec.get("added_tokens", [])]
        model["vocab"] = [vocab[i] for i in sorted({t["id"] for t in spec.get("added_tokens", [])} | {self._unk})]
        model["unk_id"] = model["vocab"].index(vocab[self._unk])
        del vocab
        light = Tokenizer.from_str(json.dumps(spec))  # normaliser and pre-tokeniser only: the model is 5 tokens
        self._normalizer, self._pre_tokenizer = light.normalizer, light.pre_tokenizer
        processor = spec["post_processor"]["special_tokens"]
        self._bos, self._eos = processor["<s>"]["ids"][0], processor["</s>"]["ids"][0]
        self._specials = specials
        self._path, self._max = path, max_tokens
        self._full = None
        self._lock = threading.Lock()

    def encode(self, text: str) -> list[int]:
        if any(s in text for s in self._specials):
            return self._library().encode(text).ids
        ids: list[int] = []
        for word, _ in self._pre_tokenizer.pre_tokenize_str(self._normalizer.normalize_str(text)):
            ids += self._viterbi(word)
        return [self._bos, *ids[: self._max - 2], self._eos]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def _viterbi(self, word: str) -> list[int]:
        """tokenizers' encode_optimized, by characters: the best-scoring split; first found wins a tie; a character
        no piece covers is <unk> (consecutive ones fused into one <unk>)."""
        n, ids, scores, unk_score = len(word), self._ids, self._scores, self._min_score - UNK_PENALTY
        best = [0.0] * (n + 1)
        start: list[int | None] = [None] * (n + 1)
        token = [0] * (n + 1)
        start[0] = 0
        for i in range(n):
            here = best[i]
            single = False
            for j in range(i + 1, min(n, i + self._longest.get(word[i], 0)) + 1):
                tid = ids.get(word[i:j])
                if tid is None:
                    continue
                score = scores[tid] + here
                if start[j] is None or score > best[j]:
                    best[j], start[j], token[j] = score, i, tid
                if j == i + 1:
                    single = True
            if not single and (start[i + 1] is None or unk_score + here > best[i + 1]):
                best[i + 1], start[i + 1], token[i + 1] = unk_score + here, i, self._unk
        out: list[int] = []
        end, unknown = n, n  # word[end:unknown]: a run of <unk> characters, looked up as one string
        while end > 0:
            begin = start[end]
            if token[end] != self._unk:
                if unknown > end:
                    out.append(ids.get(word[end:unknown], self._unk))
                out.append(token[end])
                unknown = begin
            end = begin
        if unknown > 0:
            out.append(ids.get(word[:unknown], self._unk))
        return out[::-1]

    def _library(self):
        with self._lock:
            if self._full is None:
                from tokenizers import Tokenizer

                self._full = Tokenizer.from_file(str(self._path))
                self._full.enable_truncation(self._max)
            return self._full
