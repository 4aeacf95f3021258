"""Typed settings, read from ``KONSENS_*`` environment variables and an optional TOML file.

Precedence (highest first): keyword arguments, environment variables, ``.env`` in the working
directory, the config file (``KONSENS_CONFIG`` or ``$KONSENS_HOME/config.toml``), defaults.

Each area of the code defines its own settings class by subclassing :class:`KonsensSettingsBase`,
so all of them share the prefix and the file without one giant class.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

ENV_PREFIX = "KONSENS_"


def konsens_home() -> Path:
    """Return the data folder (``KONSENS_HOME``, default ``~/.konsens``)."""
    return Path(os.environ.get("KONSENS_HOME") or Path.home() / ".konsens").expanduser()


def config_file_path() -> Path:
    """Return the TOML config file path (it may not exist)."""
    explicit = os.environ.get("KONSENS_CONFIG")
    return Path(explicit).expanduser() if explicit else konsens_home() / "config.toml"


class KonsensSettingsBase(BaseSettings):
    """Base for every settings class: ``KONSENS_`` prefix, ``.env`` and the TOML config file.

    A subclass may set ``toml_table`` to read its keys from one table of the file
    (e.g. ``[ai]``); by default keys are read from the top level.
    """

    toml_table: ClassVar[str | None] = None

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        path = config_file_path()
        if path.is_file():
            toml_source = TomlConfigSettingsSource(settings_cls, toml_file=path)
            table = getattr(settings_cls, "toml_table", None)
            sources.append(_TableSource(settings_cls, toml_source, table) if table else toml_source)
        return tuple(sources)


class _TableSource(PydanticBaseSettingsSource):
    """Expose one table of a TOML file as a settings source."""

    def __init__(self, settings_cls: type[BaseSettings], inner: TomlConfigSettingsSource, table: str):
        super().__init__(settings_cls)
        self._data = dict(inner().get(table, {}))

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class TotpPolicy(StrEnum):
    """When the TOTP second factor is required at login (it is always used once a user enrolled)."""

    AUTO = "auto"
    ALWAYS = "always"


class Settings(KonsensSettingsBase):
    """Settings every part of Konsens needs."""

    home: Path = Field(default_factory=konsens_home, description="Data folder (KONSENS_HOME).")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite file konsens.db under KONSENS_HOME.",
    )
    log_level: LogLevel = LogLevel.INFO
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key for stored API keys; default: a 0600 key file under KONSENS_HOME.",
    )
    base_currency: str = "EUR"
    display_timezone: str = "Europe/Vienna"
    dashboard_port: int = Field(default=8501, ge=1, le=65535)
    dashboard_address: str = "localhost"
    demo_on_empty: bool = Field(default=True, description="`konsens up` seeds demo data into an empty database.")
    login_cookie_days: float = Field(
        default=3, gt=0, le=90, description="Days a login cookie keeps a browser logged in (KONSENS_LOGIN_COOKIE_DAYS)."
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate for Streamlit's own TLS (KONSENS_TLS_CERT_FILE; with the key)."
    )
    tls_key_file: Path | None = Field(
        default=None, description="PEM private key for Streamlit's own TLS (KONSENS_TLS_KEY_FILE; with the cert)."
    )
    totp_policy: TotpPolicy = Field(
        default=TotpPolicy.AUTO,
        description="When a TOTP code is required at login (KONSENS_TOTP_POLICY): auto = when live trading is on "
        "and the dashboard listens beyond localhost; always = for every login.",
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("KONSENS_TLS_CERT_FILE and KONSENS_TLS_KEY_FILE must be set together")
        return self

    @property
    def effective_database_url(self) -> str:
        """Return the configured database URL or the default SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'konsens.db'}"

    def sanitised(self) -> dict[str, Any]:
        """Return the settings as a dict that is safe to log or show (no secrets, no passwords)."""
        data = self.model_dump()
        data["secret_key"] = "***" if self.secret_key else None
        data["database_url"] = redact_url(self.effective_database_url)
        return data


def redact_url(url: str) -> str:
    """Hide the password of a database URL."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable url>"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; call ``get_settings.cache_clear()`` in tests)."""
    return Settings()
