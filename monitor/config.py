"""Settings: `config/monitor.toml`, overridden by `MONITOR_…` environment variables.

Settings are built once at the entry point (`load_settings`) and passed down; nothing here is
read at import time.
"""

from __future__ import annotations

import os
import tomllib
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config/monitor.toml")
ENV_PREFIX = "MONITOR_"
ENV_NESTED_DELIMITER = "__"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(Section):
    url: str = "sqlite:///var/monitor.db"
    busy_timeout_ms: int = Field(default=10_000, ge=0)
    echo: bool = False


class NetworkSettings(Section):
    allow_cidrs: tuple[IPv4Network | IPv6Network, ...] = ()
    user_agent: str = "monitor/0.1 (self-hosted news monitor; +https://example.invalid/monitor)"
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=20.0, gt=0)
    total_deadline_s: float = Field(default=60.0, gt=0)
    max_body_bytes: int = Field(default=10_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    max_concurrency: int = Field(default=16, ge=1)
    per_host_concurrency: int = Field(default=2, ge=1)


class FetchSettings(Section):
    default_poll_interval_s: int = Field(default=900, ge=30)
    backoff_base_s: int = Field(default=300, ge=1)
    backoff_max_s: int = Field(default=86_400, ge=1)
    retry_after_cap_s: int = Field(default=21_600, ge=0)
    disable_after_permanent_failures: int = Field(default=5, ge=1)


class ParseSettings(Section):
    time_budget_s: float = Field(default=10.0, gt=0)
    max_entries_per_feed: int = Field(default=500, ge=1)
    workers: int = Field(default=2, ge=1)
    future_tolerance_s: int = Field(default=86_400, ge=0)
    detect_languages: tuple[str, ...] = ("en", "es", "pt", "ru", "fr", "de", "it")


class FeedsSettings(Section):
    file: Path = Path("config/feeds.toml")


class EmbeddingSettings(Section):
    model: str = "use-multilingual-v3"
    batch_size: int = Field(default=64, ge=1)
    threads: int = Field(default=2, ge=1)
    cache_dir: Path = Path("var/cache")


class RelevanceSettings(Section):
    gazetteer_dir: Path = Path("config/gazetteer")
    model_file: Path = Path("config/relevance.toml")
    seeds_dir: Path = Path("config/seeds/russia-latam")


class StorySettings(Section):
    window_days: int = Field(default=7, ge=1)
    same_story_threshold: float = Field(default=0.54, gt=0, lt=1)
    seed_duplicate_threshold: float = Field(default=0.85, gt=0, le=1)


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "json", "text"] = "auto"


class Settings(BaseSettings):
    """Every setting; each section mirrors a table of `config/monitor.toml`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings = DatabaseSettings()
    network: NetworkSettings = NetworkSettings()
    fetch: FetchSettings = FetchSettings()
    parse: ParseSettings = ParseSettings()
    feeds: FeedsSettings = FeedsSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    relevance: RelevanceSettings = RelevanceSettings()
    stories: StorySettings = StorySettings()
    logging: LoggingSettings = LoggingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init arguments; the environment overrides them.
        return (env_settings, init_settings)


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings file (the default one may be absent) and apply the environment."""
    explicit = path is not None or "MONITOR_CONFIG" in os.environ
    chosen = path or Path(os.environ.get("MONITOR_CONFIG", DEFAULT_CONFIG_PATH))
    data = read_toml(chosen) if explicit or chosen.exists() else {}
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(chosen, exc)) from None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a one-line ConfigError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def describe_validation_error(path: Path, exc: ValidationError) -> str:
    """One line naming where the first bad value came from and what is wrong with it."""
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    env_name = ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(p) for p in first["loc"]).upper()
    origin = f"environment variable {env_name}" if env_name in os.environ else str(path)
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    return f"{origin}: {key}: {message}"
