"""Settings: the only module that reads the environment (``DLGRADER_*`` variables and a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = PROJECT_ROOT / "corpus" / "questions.jsonl"
DEFAULT_INDEX_DIR = PROJECT_ROOT / "index"
PROMPTS_DIR = PROJECT_ROOT / "prompts"
DEFAULT_VERIFIER_DIR = PROJECT_ROOT / "models" / "verifier"
DEFAULT_MATCHER_DIR = PROJECT_ROOT / "models" / "matcher"

Backend = Literal["auto", "onnx", "sentence-transformers"]


class Settings(BaseSettings):
    """Every knob of dlgrader, read from ``DLGRADER_<NAME>`` or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="DLGRADER_", env_file=".env", extra="ignore")

    # Corpus and index
    corpus: Path = Field(DEFAULT_CORPUS, description="Question bank (JSONL or CSV).")
    index_dir: Path | None = Field(
        None, description="Where the FAISS index lives. Default: index/ for the bundled bank, "
        "else a folder beside a custom bank (so it never overwrites the default index)."
    )
    # Embeddings
    model: str = Field("all-MiniLM-L6-v2", description="'all-MiniLM-L6-v2' (bundled) or a local model dir.")
    backend: Backend = Field("auto", description="'onnx' (fast, bundled int8 MiniLM), "
                             "'sentence-transformers' (reference, any model) or 'auto'.")
    threads: int = Field(0, ge=0, description="Threads for encoding; 0 = library default.")
    # Grading
    max_answer_words: int = Field(600, ge=20, description="Longer answers are truncated (and flagged).")
    calibration: Path | None = Field(None, description="A calibration.json from `dlgrader calibrate`.")
    verifier: Literal["on", "off"] = Field("on", description="'on': the trained verifier checks each key point "
                                           "against the answer's closest spans and the whole answer; 'off' "
                                           "(or --fast): embedding similarity and lexical rules only.")
    verifier_dir: Path = Field(DEFAULT_VERIFIER_DIR, description="The verifier model folder (int8 ONNX, "
                               "tokenizer, manifest).")
    matcher: Literal["on", "off"] = Field("off", description="'on': a trained re-ranker decides which bank "
                                          "question a free-text question asks; 'off': cosine and term checks.")
    matcher_dir: Path = Field(DEFAULT_MATCHER_DIR, description="The question re-ranker model folder.")
    # Practice and caches
    data_dir: Path | None = Field(None, description="User data (progress DB, LLM cache). "
                                  "Default: the platform's user data dir.")
    # LLM feedback (optional)
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_temperature: float = Field(0.0, ge=0.0, le=2.0)
    llm_seed: int | None = 7
    llm_timeout: float = Field(30.0, gt=0)
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_invalid_output_retries: int = Field(1, ge=0, le=5)
    llm_concurrency: int = Field(4, ge=1, le=64)
    llm_json_mode: Literal["json_schema", "json_object", "json_object_schema"] = "json_schema"
    llm_price_input: float | None = Field(None, ge=0, description="US$ per million prompt tokens "
                                          "(for cost reports; unset = tokens only).")
    llm_price_output: float | None = Field(None, ge=0, description="US$ per million completion tokens.")
    # HTTP API
    api_keys: str = Field("", description="Comma-separated API keys; empty = no auth.")
    rate_limit_per_minute: int = Field(120, ge=0, description="Per key (or client IP); 0 = off.")
    rate_limit_store: str = Field("memory", description="Where rate-limit counters live: 'memory' (this "
                                  "process: one worker) or 'redis://host:port/db' (shared by every worker "
                                  "and replica; needs dlgrader[redis]).")
    auth_failures_per_minute: int = Field(10, ge=0, description="Wrong API keys a client address may send a "
                                          "minute before it gets 429 (with API keys set); 0 = off.")
    cors_origins: str = Field("", description="Comma-separated allowed origins; empty = CORS closed.")
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_answer_chars: int = Field(20_000, ge=100)
    max_batch_items: int = Field(100, ge=1, le=10_000)
    grading_concurrency: int = Field(2, ge=1, le=64)
    log_level: str = "INFO"

    @field_validator("api_keys", "cors_origins")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard_with_keys(cls, v: str) -> str:
        if "*" in v.split(",") and v != "*":
            raise ValueError("use either '*' alone or an explicit list of origins")
        return v

    @field_validator("rate_limit_store")
    @classmethod
    def _known_store(cls, v: str) -> str:
        v = v.strip()
        if v != "memory" and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use 'memory' or a Redis URL (redis://host:port/db, rediss://..., unix://...)")
        if v != "memory":
            import importlib.util

            if importlib.util.find_spec("redis") is None:
                raise ValueError("a Redis store needs the redis client: pip install 'dlgrader[redis]'")
        return v

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def resolved_index_dir(self) -> Path:
        """The index folder: explicit setting, index/ for the bundled bank, or beside a custom bank."""
        if self.index_dir is not None:
            return self.index_dir
        if self.corpus.resolve() == DEFAULT_CORPUS.resolve():
            return DEFAULT_INDEX_DIR
        return self.corpus.resolve().parent / f".dlgrader-index-{self.corpus.stem}"

    def resolved_data_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        import platformdirs

        return Path(platformdirs.user_data_dir("dlgrader", appauthor=False))

    def llm_endpoint(self) -> tuple[str | None, str | None, str | None]:
        """(base_url, api_key, model), falling back to the openai client's own variables."""
        import os

        base = self.llm_base_url or os.environ.get("OPENAI_BASE_URL")
        key = self.llm_api_key or os.environ.get("OPENAI_API_KEY")
        return base, key, self.llm_model


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, parsed on first use (never at import time)."""
    return Settings()
