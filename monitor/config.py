"""Settings: a TOML file, overridden by `MONITOR_…` environment variables.

The file is found in this order (`find_config_file`): `--config PATH`, `$MONITOR_CONFIG`,
`./config/monitor.toml`, then the user's `$XDG_CONFIG_HOME/monitor/monitor.toml` (by default
`~/.config/monitor/monitor.toml`); with none of them the built-in defaults apply. Relative paths
inside the file are relative to the current directory, wherever the file was found.

Settings are built once at the entry point (`load_settings`) and passed down; nothing here is
read at import time.
"""

from __future__ import annotations

import os
import re
import tomllib
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config/monitor.toml")
CONFIG_ENV = "MONITOR_CONFIG"
USER_CONFIG_NAME = Path("monitor") / "monitor.toml"
BUILT_IN_DEFAULTS = "built-in defaults"
ENV_PREFIX = "MONITOR_"
# Index size above which the window and search indexes turn approximate. bench/scale.py: at a
# 100k window, exact 2.8 ms an article against 0.51 ms approximate with every decision the same
# (4,608 checked) and recall@20 of search 1.0; at 1M, 0.9996 of decisions agree.
DEFAULT_APPROXIMATE_ABOVE = 50_000
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
    min_poll_interval_s: int = Field(default=120, ge=1)
    max_poll_interval_s: int = Field(default=21_600, ge=1)
    lease_s: int = Field(default=300, ge=1)


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
    # Child processes the processing stage encodes its batches in, one BLAS thread each, while
    # it tags, assigns and stores the batch before (0: encode in the stage's own process).
    processes: int = Field(default=2, ge=0)
    cache_dir: Path = Path("var/cache")


class RelevanceSettings(Section):
    gazetteer_dir: Path = Path("config/gazetteer")
    model_file: Path = Path("config/relevance.toml")
    seeds_dir: Path = Path("config/seeds/russia-latam")


class StorySettings(Section):
    window_days: int = Field(default=7, ge=1)
    same_story_threshold: float = Field(default=0.54, gt=0, lt=1)
    event_window_h: float = Field(default=48, gt=0)
    model_file: Path = Path("config/stories.toml")
    seed_duplicate_threshold: float = Field(default=0.85, gt=0, le=1)
    processing_lease_s: float = Field(default=600, gt=0)
    # Where the processor keeps its window index between runs; "" keeps none (rebuilt from the
    # database at each start).
    index_dir: str = "var/index"
    # Window vectors above which the window index (and search's index) answer approximately.
    approximate_above: int = Field(default=DEFAULT_APPROXIMATE_ABOVE, ge=1)

    @property
    def index_path(self) -> Path | None:
        return Path(self.index_dir) if self.index_dir else None


DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration_s(value: str) -> float:
    """ "90s", "30m", "6h", "1d" → seconds."""
    match = DURATION.match(value)
    if not match:
        raise ValueError(f"not a duration like 30m, 6h or 1d: {value!r}")
    return float(match.group(1)) * DURATION_UNITS_S[match.group(2)]


class SMTPSettings(Section):
    host: str = ""
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    ssl: bool = False
    from_address: str = Field(default="monitor@localhost", alias="from")
    username_env: str = "MONITOR_SMTP_USER"
    password_env: str = "MONITOR_SMTP_PASSWORD"  # noqa: S105 - the variable's name
    timeout_s: float = Field(default=30.0, gt=0)
    ca_file: str = ""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WebhookChannel(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    url: str = Field(pattern=r"^https?://")
    secret_env: str
    format: Literal["json", "slack"] = "json"


class EmailChannel(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    to: tuple[str, ...] = Field(min_length=1)


class AlertRule(Section):
    name: str
    min_score: float = Field(default=0.5, ge=0, le=1)
    countries: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    view: str = ""  # a saved view whose filter the rule applies as well ("": none)
    channels: tuple[str, ...] = Field(min_length=1)
    mode: Literal["instant", "digest"] = "instant"
    digest_every: str = "6h"
    max_per_hour: int = Field(default=30, ge=1)

    @field_validator("digest_every")
    @classmethod
    def check_duration(cls, value: str) -> str:
        parse_duration_s(value)
        return value

    @property
    def digest_every_s(self) -> float:
        return parse_duration_s(self.digest_every)


class AlertSettings(Section):
    story_update_outlets: int = Field(default=3, ge=1)
    max_attempts: int = Field(default=8, ge=1)
    retry_schedule_s: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000)
    retry_after_cap_s: float = Field(default=36000, ge=0)
    lease_s: float = Field(default=120, gt=0)
    webhook_timeout_s: float = Field(default=10, gt=0)
    webhooks: tuple[WebhookChannel, ...] = ()
    emails: tuple[EmailChannel, ...] = ()
    rules: tuple[AlertRule, ...] = ()

    @model_validator(mode="after")
    def check_channels(self) -> AlertSettings:
        names = [c.name for c in self.webhooks] + [c.name for c in self.emails]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"channel name used twice: {duplicates[0]}")
        for rule in self.rules:
            unknown = [c for c in rule.channels if c not in names]
            if unknown:
                raise ValueError(f"rule {rule.name!r} names unknown channel {unknown[0]!r}")
        return self


class ServiceSettings(Section):
    poll_every_s: float = Field(default=30, gt=0)
    process_every_s: float = Field(default=10, gt=0)
    dispatch_every_s: float = Field(default=5, gt=0)
    digest_every_s: float = Field(default=60, gt=0)
    prune_every_s: float = Field(default=3600, gt=0)
    misfire_grace_s: float = Field(default=30, gt=0)
    shutdown_grace_s: float = Field(default=20, gt=0)
    degraded_after_s: float = Field(default=3600, gt=0)
    degraded_after_failed_cycles: int = Field(default=3, ge=1)


class RetentionSettings(Section):
    articles_days: int = Field(default=180, ge=1)
    vectors_days: int = Field(default=60, ge=1)
    fetch_log_days: int = Field(default=30, ge=1)
    deliveries_days: int = Field(default=90, ge=1)


class APISettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    token_env: str = "MONITOR_API_TOKEN"  # noqa: S105 - the variable's name
    require_token_for_reads: bool = False
    token_name: str = Field(default="api", min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")
    page_size: int = Field(default=50, ge=1, le=1000)
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    public_base_url: str = Field(default="", pattern=r"^(https?://[^\s]+)?$")


class PagesSettings(Section):
    session_secret_env: str = "MONITOR_SESSION_SECRET"  # noqa: S105 - the variable's name
    session_max_age_s: int = Field(default=43_200, ge=60, le=31_536_000)


class SearchSettings(Section):
    min_similarity: float = Field(default=0.25, ge=-1, le=1)


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
    smtp: SMTPSettings = SMTPSettings()
    alerts: AlertSettings = AlertSettings()
    service: ServiceSettings = ServiceSettings()
    retention: RetentionSettings = RetentionSettings()
    api: APISettings = APISettings()
    pages: PagesSettings = PagesSettings()
    search: SearchSettings = SearchSettings()
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


def user_config_path() -> Path | None:
    """`$XDG_CONFIG_HOME/monitor/monitor.toml`, else `~/.config/monitor/monitor.toml`."""
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore a relative value
        return Path(xdg) / USER_CONFIG_NAME
    try:
        return Path.home() / ".config" / USER_CONFIG_NAME
    except RuntimeError:  # no HOME and no password entry
        return None


def find_config_file(path: Path | None = None) -> Path | None:
    """The settings file in use: `--config`, `$MONITOR_CONFIG` (both must exist), then the first
    of `./config/monitor.toml` and the user's config file that exists; None means defaults."""
    if path is not None:
        return path
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    candidates = (DEFAULT_CONFIG_PATH, user_config_path())
    return next((c for c in candidates if c is not None and c.is_file()), None)


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings file that `find_config_file` names and apply the environment."""
    return read_settings(find_config_file(path))


def read_settings(path: Path | None) -> Settings:
    """Settings from this file (None: the built-in defaults), overridden by the environment."""
    data = read_toml(path) if path is not None else {}
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path or BUILT_IN_DEFAULTS, exc)) from None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into a one-line ConfigError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def describe_validation_error(path: Path | str, exc: ValidationError) -> str:
    """One line naming where the first bad value came from and what is wrong with it."""
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    env_name = ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(p) for p in first["loc"]).upper()
    origin = f"environment variable {env_name}" if env_name in os.environ else str(path)
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    return f"{origin}: {key}: {message}"
