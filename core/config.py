"""Typed settings: one root object with a section per area, read from ``KONSENS_*`` variables and TOML.

Each area keeps its settings class next to its code (``core/risk/settings.py`` ...) by subclassing
:class:`KonsensSettingsBase`; :func:`load_root_settings` finds every such class and makes it a
section of one :class:`RootSettings` (``root.risk_limits.daily_loss_limit_pct``). A field added
to an area's class is a setting at once: its environment name and TOML key are derived from it.

The one override order, the same in every area (highest first):

1. arguments passed in code (e.g. ``load_assumptions(session, fifo_2022=False)``, ``--port``);
2. the database: values saved on the Settings page (``settings`` table; API keys in ``secrets``);
3. environment variables ``KONSENS_*``;
4. ``.env`` in the working directory;
5. the TOML file (``KONSENS_CONFIG`` or ``$KONSENS_HOME/config.toml``), an area's table (``[risk]``);
6. the defaults in the code.

Environment names stay flat, as they always were: ``KONSENS_`` + the area prefix of the class
(``NEWS_``, ``TRADING_``, ``TAX_`` or none) + the field name. Unknown ``KONSENS_*`` names (in the
environment or ``.env``) and unknown TOML keys are refused at start with the closest valid name
(:func:`check_configuration`), so a misspelt limit never silently leaves the default in force.
Names that are read directly and are not settings are listed in :data:`NOT_SETTINGS_ENV_NAMES`.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.errors import PermanentError

ENV_PREFIX = "KONSENS_"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

# ``KONSENS_*`` names that are not settings but are read directly (os.environ), so start-up does
# not refuse them. Add a name here when code reads one outside a settings class.
NOT_SETTINGS_ENV_NAMES: frozenset[str] = frozenset(
    {
        "KONSENS_HOME",  # read by konsens_home() before any settings exist (also the field `home`)
        "KONSENS_CONFIG",  # the path of the TOML file itself
        "KONSENS_TEST_PG_URL",  # the PostgreSQL server of the tests and benchmarks
        "KONSENS_SHARED_DATA",  # where the tests find the shared real-world data files
    }
)

# Settings that were removed, with what to do instead (refused like unknown names, with the reason).
REMOVED_SETTINGS: dict[str, str] = {
    "base_currency": "it was never read; valuation, P&L and tax are always in EUR",
    "display_timezone": "it was never read; the dashboard always shows Europe/Vienna time",
}


def konsens_home() -> Path:
    """Return the data folder (``KONSENS_HOME``, default ``~/.konsens``)."""
    return Path(os.environ.get("KONSENS_HOME") or Path.home() / ".konsens").expanduser()


def config_file_path() -> Path:
    """Return the TOML config file path (it may not exist)."""
    explicit = os.environ.get("KONSENS_CONFIG")
    return Path(explicit).expanduser() if explicit else konsens_home() / "config.toml"


class ConfigurationError(PermanentError, ValueError):
    """The configuration cannot be used (unknown or invalid settings); the message says what to fix."""


class KonsensSettingsBase(BaseSettings):
    """Base for every settings class: ``KONSENS_`` prefix, ``.env`` and the TOML config file.

    A subclass may set ``toml_table`` to read its keys from one table of the file
    (e.g. ``[ai]``); by default keys are read from the top level. Every subclass is a section of
    the root settings, named by ``section_name`` (derived from the class name unless set).
    """

    toml_table: ClassVar[str | None] = None
    section_name: ClassVar[str | None] = None

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

    @classmethod
    def section(cls) -> str:
        """Return this class's name in the root settings (``RiskLimits`` → ``risk_limits``)."""
        if cls.section_name:
            return cls.section_name
        stem = cls.__name__.removesuffix("Settings") or "core"
        name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", stem).lower()
        table = cls.toml_table
        return name if not table or name.startswith(table) else f"{table}_{name}"

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """Return ``{ENVIRONMENT_NAME: field name}`` for every field (as pydantic-settings reads them)."""
        prefix = str(cls.model_config.get("env_prefix") or "")
        names: dict[str, str] = {}
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, str):
                names[alias.upper()] = field_name
            elif isinstance(alias, AliasChoices):
                names.update({choice.upper(): field_name for choice in alias.choices if isinstance(choice, str)})
            else:
                names[(prefix + field_name).upper()] = field_name
        return names


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


# --- the root settings: every area's class as a section ------------------------------------------

SectionT = TypeVar("SectionT", bound=KonsensSettingsBase)
_DEFINES_SETTINGS = re.compile(r"^class \w+\([^)]*KonsensSettingsBase[^)]*\):", re.MULTILINE)


def settings_classes() -> list[type[KonsensSettingsBase]]:
    """Return every settings class of Konsens (``core`` and ``workers``), importing their modules.

    A module defines settings if it has a class statement naming ``KonsensSettingsBase`` as a
    base; nothing has to be registered by hand, so a new class is found like a new field.
    """
    _import_settings_modules()
    found: list[type[KonsensSettingsBase]] = []
    pending: list[type[KonsensSettingsBase]] = list(KonsensSettingsBase.__subclasses__())
    while pending:
        cls = pending.pop(0)
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in {"core", "workers"} and "<locals>" not in cls.__qualname__:
            found.append(cls)
    return sorted(found, key=lambda cls: (cls is not Settings, cls.section()))


@lru_cache(maxsize=1)
def _import_settings_modules() -> tuple[str, ...]:
    names = []
    for package in ("core", "workers"):
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            if path.name == "config.py" and path.parent.name == "core":
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                continue
            if "KonsensSettingsBase" in text and _DEFINES_SETTINGS.search(text):
                parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                importlib.import_module(name)
                names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class RootSettings:
    """All settings of Konsens: one frozen section per area (``root.core``, ``root.risk_limits``, ...)."""

    sections: Mapping[str, KonsensSettingsBase]

    def section(self, cls: type[SectionT]) -> SectionT:
        """Return the section of settings class ``cls`` (typed)."""
        value = self.sections[cls.section()]
        if not isinstance(value, cls):
            raise TypeError(f"section {cls.section()} is a {type(value).__name__}, not a {cls.__name__}")
        return value

    @property
    def core(self) -> Settings:
        """The settings every part of Konsens needs (home, database, log level...)."""
        return self.section(Settings)

    def __getattr__(self, name: str) -> KonsensSettingsBase:
        try:
            return self.__dict__["sections"][name]
        except KeyError:
            raise AttributeError(f"no settings section {name!r}") from None

    def sanitised(self) -> dict[str, dict[str, Any]]:
        """Return every section as plain values that are safe to log or show (secrets masked)."""
        shown: dict[str, dict[str, Any]] = {}
        for name, section in self.sections.items():
            shown[name] = section.sanitised() if isinstance(section, Settings) else section.model_dump(mode="json")
        return shown


def load_root_settings() -> RootSettings:
    """Check the configuration (the process environment, `.env`, TOML) and load every section.

    Raise ``ConfigurationError`` with what to fix.
    """
    classes = settings_classes()
    owners: dict[str, str] = {}
    for cls in classes:
        other = owners.setdefault(cls.section(), cls.__qualname__)
        if other != cls.__qualname__:
            raise ConfigurationError(f"settings classes {other} and {cls.__qualname__} share section {cls.section()}")
    check_configuration(classes)
    sections: dict[str, KonsensSettingsBase] = {}
    problems: list[str] = []
    for cls in classes:
        try:
            sections[cls.section()] = cls()
        except ValidationError as error:
            problems.extend(_describe_invalid(cls, error))
    if problems:
        raise ConfigurationError("invalid settings: " + "; ".join(problems))
    return RootSettings(sections)


@lru_cache(maxsize=1)
def get_root_settings() -> RootSettings:
    """Return the process-wide root settings (cached; ``get_root_settings.cache_clear()`` in tests)."""
    return load_root_settings()


def check_startup() -> RootSettings:
    """Refuse to start on unknown or invalid settings: what the CLI, workers and dashboard call first.

    When nothing but the core settings is configured (no ``.env``, no TOML file, and every
    ``KONSENS_*`` variable is one of :class:`Settings` or :data:`NOT_SETTINGS_ENV_NAMES`), the
    areas' sections can only hold their defaults: nothing about them can be unknown or invalid,
    so only the core section is validated here and the areas' settings modules are imported when
    a section is first used (:class:`_LazySections`). A command thus does not pay for every
    area's settings at start. Otherwise every section is checked and loaded at once.
    """
    get_root_settings.cache_clear()
    get_settings.cache_clear()
    if not _only_core_configured():
        return get_root_settings()
    try:
        core = get_settings()
    except ValidationError as error:
        raise ConfigurationError("invalid settings: " + "; ".join(_describe_invalid(Settings, error))) from None
    return RootSettings(_LazySections(core))


def _only_core_configured(environ: Mapping[str, str] | None = None) -> bool:
    """True if no configuration source names anything outside the core settings (see check_startup)."""
    if Path(".env").is_file() or config_file_path().is_file():
        return False
    core_names = set(Settings.env_names()) | NOT_SETTINGS_ENV_NAMES
    names = os.environ if environ is None else environ
    return all(not upper.startswith(ENV_PREFIX) or upper in core_names for upper in (name.upper() for name in names))


class _LazySections(Mapping[str, KonsensSettingsBase]):
    """The sections of the root settings, loaded (:func:`get_root_settings`) on first use past the core."""

    def __init__(self, core: Settings):
        self._core = core
        self._all: Mapping[str, KonsensSettingsBase] | None = None

    def _sections(self) -> Mapping[str, KonsensSettingsBase]:
        if self._all is None:
            self._all = get_root_settings().sections
        return self._all

    def __getitem__(self, name: str) -> KonsensSettingsBase:
        if name == Settings.section() and self._all is None:
            return self._core
        return self._sections()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sections())

    def __len__(self) -> int:
        return len(self._sections())


def _describe_invalid(cls: type[KonsensSettingsBase], error: ValidationError) -> list[str]:
    by_field = {field: name for name, field in cls.env_names().items()}
    described = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        where = by_field.get(field, field)
        table = f"[{cls.toml_table}] " if cls.toml_table else ""
        described.append(f"{where} (or {table}{field} in the config file): {item['msg']}")
    return described


def check_configuration(
    classes: Iterable[type[KonsensSettingsBase]] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
    toml_path: Path | None = None,
) -> None:
    """Refuse unknown ``KONSENS_*`` names (environment, ``.env``) and unknown TOML keys.

    Raise ``ConfigurationError`` naming every unknown name with the closest valid one.
    """
    classes = list(classes) if classes is not None else settings_classes()
    environ = os.environ if environ is None else environ
    valid_env = set(NOT_SETTINGS_ENV_NAMES)
    for cls in classes:
        valid_env.update(cls.env_names())
    problems: list[str] = []
    for name in sorted(environ):
        problem = _unknown_env_name(name, valid_env)
        if problem:
            problems.append(f"{problem} (environment)")
    dotenv_file = Path(".env") if dotenv_path is None else dotenv_path
    if dotenv_file.is_file():
        from dotenv import dotenv_values

        for name in sorted(dotenv_values(dotenv_file)):
            problem = _unknown_env_name(name, valid_env)
            if problem:
                problems.append(f"{problem} (in {dotenv_file})")
    toml_file = config_file_path() if toml_path is None else toml_path
    if toml_file.is_file():
        problems.extend(f"{problem} (in {toml_file})" for problem in _unknown_toml_keys(toml_file, classes))
    if problems:
        raise ConfigurationError("; ".join(problems))


def _unknown_env_name(name: str, valid: set[str]) -> str | None:
    upper = name.upper()
    if not upper.startswith(ENV_PREFIX) or upper in valid:
        return None
    removed = REMOVED_SETTINGS.get(upper.removeprefix(ENV_PREFIX).lower())
    if removed:
        return f"{name} was removed: {removed}"
    return f"unknown setting {name}" + _suggestion(upper, valid, ENV_PREFIX)


def _suggestion(name: str, candidates: Iterable[str], common_prefix: str = "") -> str:
    """Return ``"; did you mean X?"`` for the closest candidate (compared without the prefix all share)."""
    by_stem = {candidate.removeprefix(common_prefix): candidate for candidate in sorted(candidates)}
    close = difflib.get_close_matches(name.removeprefix(common_prefix), list(by_stem), n=1, cutoff=0.6)
    return f"; did you mean {by_stem[close[0]]}?" if close else ""


def _unknown_toml_keys(path: Path, classes: list[type[KonsensSettingsBase]]) -> list[str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        return [f"the config file cannot be read as TOML: {error}"]
    tables: dict[str | None, set[str]] = {}
    for cls in classes:
        tables.setdefault(cls.toml_table, set()).update(cls.model_fields)
    top_level = tables.get(None, set())
    dotted = {f"{table}.{key}" if table else key for table, keys in tables.items() for key in keys}
    problems: list[str] = []
    for key, value in data.items():
        if key in top_level:
            continue
        if key in tables and isinstance(value, dict):
            for inner in value:
                if inner not in tables[key]:
                    problems.append(_unknown_toml_key(f"{key}.{inner}", inner, dotted))
            continue
        problems.append(_unknown_toml_key(key, key, dotted))
    return problems


def _unknown_toml_key(dotted_key: str, key: str, candidates: set[str]) -> str:
    removed = REMOVED_SETTINGS.get(key)
    if removed:
        return f"config key {dotted_key} was removed: {removed}"
    return f"unknown config key {dotted_key}" + _suggestion(dotted_key, candidates)


@dataclass(frozen=True)
class SettingReference:
    """One setting as a user meets it: its section, variable, TOML key, default and meaning."""

    section: str
    env_name: str
    toml_key: str
    default: str
    description: str


def settings_reference() -> list[SettingReference]:
    """Return every setting of every section (what ``konsens settings`` lists), secrets' defaults hidden."""
    rows: list[SettingReference] = []
    for cls in settings_classes():
        by_field = {field: name for name, field in cls.env_names().items()}
        for field_name, field in cls.model_fields.items():
            if field.default_factory is not None:
                default = "(computed)" if field_name == "home" else "(see code)"
            else:
                value = field.default
                default = "" if value is None else str(value.value if isinstance(value, StrEnum) else value)
            table = cls.toml_table
            rows.append(
                SettingReference(
                    section=cls.section(),
                    env_name=by_field.get(field_name, ""),
                    toml_key=f"{table}.{field_name}" if table else field_name,
                    default=default,
                    description=field.description or "",
                )
            )
    return rows
