"""Reads and writes ``linkreg.toml``: the institutions, their rights and the settings."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.contract import Operation

CONFIG_NAME = "linkreg.toml"

DEFAULT_CONFIG = """\
# LinkRegister configuration: the institutions that may drop files, and the processor's settings.

[settings]
store = "data/linkreg.duckdb"   # the link store, relative to the root
settle_seconds = 5              # a file must stay unchanged this long before it is taken
poll_seconds = 10               # how often `linkreg watch` looks at the inbox
max_file_bytes = 21474836480    # larger files are refused whole (FILE_TOO_LARGE); 20 GiB
memory_limit = "768MB"          # DuckDB's memory limit; it spills to data/tmp beyond it
audit_retention_days = 3650     # consultation audit files older than this are removed
# formats_file = "catalogue/formats.csv"      # a local format catalogue instead of the packaged one
#                                             # (each run checks that its examples follow its rules)
# key_types_file = "catalogue/key_types.csv"  # a local key-type list instead of the packaged one

[institutions.RVA]              # the folder name under inbox/ and outbox/
operations = ["lookup-insz", "lookup-key", "create", "update", "report", "formats"]

[institutions.KSZ]
operations = ["*"]
admin = true                    # may delete links and read the review queue
# marker = true                 # take a file only when `<file>.done` appears beside it
"""

_SETTING_NAMES = frozenset(
    {
        "store",
        "settle_seconds",
        "poll_seconds",
        "max_file_bytes",
        "memory_limit",
        "formats_file",
        "key_types_file",
        "country_aliases_file",
        "audit_retention_days",
    }
)
_INSTITUTION_KEYS = frozenset({"operations", "admin", "marker"})
_INSTITUTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ConfigError(Exception):
    """``linkreg.toml`` is missing or says something the processor cannot use."""


@dataclass(frozen=True)
class Institution:
    """An institution named in linkreg.toml, with the operations it may use."""

    name: str
    operations: frozenset[Operation]
    admin: bool = False
    marker: bool = False  # files are taken only once `<name>.done` appears beside them

    def may(self, operation: Operation) -> bool:
        if operation.admin_only and not self.admin:
            return False
        return operation in self.operations


@dataclass(frozen=True)
class Settings:
    """Everything the processor needs to know about one root."""

    root: Path
    store: Path
    settle_seconds: float = 5.0
    poll_seconds: float = 10.0
    max_file_bytes: int = 20 * 1024**3
    memory_limit: str = "768MB"
    formats_file: Path | None = None
    key_types_file: Path | None = None
    country_aliases_file: Path | None = None
    audit_retention_days: int = 3650
    institutions: dict[str, Institution] = field(default_factory=dict)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def outbox(self) -> Path:
        return self.root / "outbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def work(self) -> Path:
        """Claimed files in processing; same filesystem as the inbox."""
        return self.root / "work"

    @property
    def quarantine(self) -> Path:
        """Files that are never processed: unknown institutions, operations, symlinks."""
        return self.root / "quarantine"

    @property
    def temp_directory(self) -> Path:
        return self.store.parent / "tmp"


def resolve_root(root: Path | str | None, environ: dict[str, str]) -> Path:
    """``--root``, else ``$LINKREG_ROOT``, else the current directory."""
    if root is not None:
        return Path(root)
    if environ.get("LINKREG_ROOT"):
        return Path(environ["LINKREG_ROOT"])
    return Path.cwd()


def load_settings(root: Path) -> Settings:
    """Reads ``<root>/linkreg.toml``; every problem is a ConfigError naming the line."""
    path = root / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run `linkreg init --root {root}` first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return _parse(document, text=text, path=path, root=root)


def write_default_config(root: Path) -> Path:
    """Writes the commented default ``linkreg.toml`` unless one is already there."""
    path = root / CONFIG_NAME
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        path.write_text(DEFAULT_CONFIG, encoding="utf-8")
    return path


def _parse(document: dict[str, object], *, text: str, path: Path, root: Path) -> Settings:
    where = _Locator(text, path)
    unknown_tables = set(document) - {"settings", "institutions"}
    if unknown_tables:
        name = sorted(unknown_tables)[0]
        raise where.error(name, f"unknown table `{name}`: expected [settings] and [institutions.*]")
    raw_settings = document.get("settings", {})
    if not isinstance(raw_settings, dict):
        raise where.error("settings", "`settings` must be a table")
    for key in raw_settings:
        if key not in _SETTING_NAMES:
            raise where.error(
                key, f"unknown setting `{key}`; known: {', '.join(sorted(_SETTING_NAMES))}"
            )

    def number(key: str, default: float) -> float:
        value = raw_settings.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise where.error(key, f"`{key}` must be a number of seconds >= 0, not {value!r}")
        return float(value)

    def text_setting(key: str) -> str | None:
        value = raw_settings.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise where.error(key, f"`{key}` must be a non-empty string")
        return value

    def relative_path(key: str) -> Path | None:
        value = text_setting(key)
        return None if value is None else root / value

    retention = raw_settings.get("audit_retention_days", 3650)
    if isinstance(retention, bool) or not isinstance(retention, int) or retention < 1:
        raise where.error("audit_retention_days", "`audit_retention_days` must be a number >= 1")
    max_file_bytes = raw_settings.get("max_file_bytes", 20 * 1024**3)
    if (
        isinstance(max_file_bytes, bool)
        or not isinstance(max_file_bytes, int)
        or max_file_bytes <= 0
    ):
        raise where.error("max_file_bytes", "`max_file_bytes` must be a positive whole number")
    return Settings(
        root=root,
        store=relative_path("store") or root / "data" / "linkreg.duckdb",
        settle_seconds=number("settle_seconds", 5.0),
        poll_seconds=number("poll_seconds", 10.0),
        max_file_bytes=max_file_bytes,
        memory_limit=text_setting("memory_limit") or "768MB",
        formats_file=relative_path("formats_file"),
        key_types_file=relative_path("key_types_file"),
        country_aliases_file=relative_path("country_aliases_file"),
        audit_retention_days=retention,
        institutions=_parse_institutions(document.get("institutions", {}), where),
    )


def _parse_institutions(raw: object, where: _Locator) -> dict[str, Institution]:
    if not isinstance(raw, dict):
        raise where.error(
            "institutions", "`institutions` must be tables such as [institutions.RVA]"
        )
    institutions = {}
    allowed = ", ".join(op.value for op in Operation)
    known_keys = ", ".join(sorted(_INSTITUTION_KEYS))
    for name, body in raw.items():
        if not _INSTITUTION_NAME.match(name):
            raise where.error(name, f"institution name `{name}` must be a plain folder name")
        if not isinstance(body, dict):
            raise where.error(name, f"[institutions.{name}] must be a table")
        for key in body:
            if key not in _INSTITUTION_KEYS:
                raise where.error(
                    key, f"[institutions.{name}]: unknown key `{key}`; known: {known_keys}"
                )
        operations = body.get("operations")
        if not isinstance(operations, list) or not all(isinstance(op, str) for op in operations):
            raise where.error(
                name, f"[institutions.{name}] needs `operations = [...]`, a list of names"
            )
        granted: set[Operation] = set()
        for op in operations:
            if op == "*":
                granted.update(Operation)
                continue
            try:
                granted.add(Operation(op))
            except ValueError:
                raise where.error(
                    op, f"[institutions.{name}]: unknown operation `{op}`; allowed: {allowed}, *"
                ) from None
        admin = body.get("admin", False)
        if not isinstance(admin, bool):
            raise where.error("admin", f"[institutions.{name}]: `admin` must be true or false")
        marker = body.get("marker", False)
        if not isinstance(marker, bool):
            raise where.error("marker", f"[institutions.{name}]: `marker` must be true or false")
        institutions[name] = Institution(
            name=name, operations=frozenset(granted), admin=admin, marker=marker
        )
    return institutions


class _Locator:
    """Finds the line where a name appears, so that errors can point at it."""

    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.splitlines()
        self.path = path

    def error(self, needle: str, message: str) -> ConfigError:
        pattern = re.compile(rf"(^|[\s\[\.\"']){re.escape(needle)}($|[\s\]\.\"'=,])")
        for number, line in enumerate(self.lines, start=1):
            if pattern.search(line.split("#", 1)[0]):
                return ConfigError(f"{self.path} line {number}: {message}")
        return ConfigError(f"{self.path}: {message}")
