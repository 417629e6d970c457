"""Where dbtestkit's settings come from: keyword > environment > setup.cfg or pyproject.toml > default."""

import configparser
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from dbtestkit.exceptions import ConfigurationError

ENV_PREFIX = "DBTESTKIT_"
SETUP_CFG_SECTION = "dbtestkit"
PYPROJECT_TABLE = "tool.dbtestkit"
DEFAULT_URL = "sqlite://"
SETTING_NAMES = ("url", "alembic_ini", "cache_dir", "keep", "name", "sqlite_foreign_keys", "archive")
# Relative paths in setup.cfg (or pyproject.toml) are relative to that file,
# not to wherever the test runner happened to be started.
PATH_SETTINGS = ("alembic_ini", "cache_dir", "archive")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one ``TestDatabase``."""

    url: str
    alembic_ini: "str | None"
    cache_dir: Path
    keep: bool
    name: "str | None"
    # PRAGMA foreign_keys=ON on every SQLite connection a test gets (SQLite's default is off).
    sqlite_foreign_keys: bool = True
    # A directory of golden archives (a CI cache): restored from, written to.
    archive: "Path | None" = None
    # Where each setting came from, in words an error message can name:
    # "--url", "DBTESTKIT_URL", "url in /src/setup.cfg [dbtestkit]", ...
    origins: dict = field(default_factory=dict, compare=False)

    def origin(self, key):
        """Return where setting ``key`` came from, e.g. ``DBTESTKIT_URL`` or ``--url``."""
        return self.origins.get(key) or f"the default {key}"


def resolve_settings(search_from=None, keyword_origins=None, **given):
    """Merge keyword arguments over environment over the configuration file over defaults.

    The configuration file (setup.cfg ``[dbtestkit]`` or pyproject.toml
    ``[tool.dbtestkit]``, see ``find_config_file``) is looked for upwards from
    ``search_from`` (a test module's folder, say), then from the working
    directory. ``keyword_origins`` says how keywords were given when not by a
    caller of TestDatabase (``--url``).
    """
    cfg_path, from_cfg = _config_file_settings(search_from) if search_from else (None, {})
    if not from_cfg:
        cfg_path, from_cfg = _config_file_settings()
    values, origins = {}, {}
    for key in SETTING_NAMES:
        variable = ENV_PREFIX + key.upper()
        if given.get(key) is not None:
            values[key] = given[key]
            origins[key] = (keyword_origins or {}).get(key) or f"TestDatabase({key}=...)"
        elif os.environ.get(variable):
            values[key] = os.environ[variable]
            origins[key] = variable
        else:
            values[key] = from_cfg.get(key)
            if values[key] is not None:
                origins[key] = f"{key} in {cfg_path} [{_table_of(cfg_path)}]"
    return Settings(
        url=str(values["url"] or DEFAULT_URL),
        alembic_ini=os.fspath(values["alembic_ini"]) if values["alembic_ini"] else None,
        cache_dir=cache_dir_path(values["cache_dir"]),
        keep=parse_bool(values["keep"], "keep", origins.get("keep")),
        name=values["name"],
        sqlite_foreign_keys=values["sqlite_foreign_keys"] is None or parse_bool(
            values["sqlite_foreign_keys"], "sqlite_foreign_keys", origins.get("sqlite_foreign_keys")),
        archive=Path(values["archive"]).expanduser().absolute() if values["archive"] else None,
        origins=origins,
    )


def parse_bool(value, setting, origin=None):
    """Read a yes/no setting written as a bool or a word."""
    if value is None or isinstance(value, bool):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    where = f" (from {origin})" if origin else ""
    raise ConfigurationError(
        f"dbtestkit setting {setting!r} is {value!r}{where}; use 1/0, true/false or yes/no."
    )


def find_setup_cfg(start=None):
    """Return the nearest setup.cfg with a ``[dbtestkit]`` section, walking up from ``start``."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "setup.cfg"
        if candidate.is_file() and _has_section(candidate):
            return candidate
    return None


def _has_section(path):
    parser = configparser.ConfigParser(interpolation=None)
    try:
        read_utf8_ini(parser, path, "setup.cfg")
    except ConfigurationError:
        if f"[{SETUP_CFG_SECTION}]".encode() in path.read_bytes():
            raise
        # Another tool's setup.cfg in another encoding: not ours to judge.
        return False
    except configparser.Error:
        return False
    return parser.has_section(SETUP_CFG_SECTION)


def read_utf8_ini(parser, path, what):
    """Read the ini file ``path`` into ``parser`` as UTF-8; other encodings are a ConfigurationError."""
    try:
        parser.read(path, encoding="utf-8")
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b"\n") + 1
        raise ConfigurationError(
            f"{path} is not UTF-8 text: byte 0x{error.object[error.start]:02x} on line {line} "
            f"is not valid UTF-8. dbtestkit reads {what} as UTF-8: save the file as UTF-8 "
            "(in most editors: save with encoding, UTF-8)."
        ) from error


def read_setup_cfg(start=None):
    """Return the settings of the nearest configuration file (see ``find_config_file``), paths made absolute."""
    return _config_file_settings(start)[1]


def find_config_file(start=None):
    """Return the nearest setup.cfg with ``[dbtestkit]`` or pyproject.toml with ``[tool.dbtestkit]``.

    Folders are searched upwards from ``start``; the nearest folder holding
    either wins. One folder holding both is a ConfigurationError: which
    should win would be a guess, and a stale copy would go unnoticed.
    """
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        found = [path for path, ours in ((folder / "setup.cfg", _has_section),
                                         (folder / "pyproject.toml", _has_tool_table))
                 if path.is_file() and ours(path)]
        if len(found) == 2:
            raise ConfigurationError(
                f"Both {found[0]} [{SETUP_CFG_SECTION}] and {found[1]} [{PYPROJECT_TABLE}] configure "
                "dbtestkit. Keep one: move the keys into one of them and delete the other section."
            )
        if found:
            return found[0]
    return None


def _table_of(path):
    return PYPROJECT_TABLE if path.name == "pyproject.toml" else SETUP_CFG_SECTION


def _config_file_settings(start=None):
    """Return ``(path, settings)`` of the nearest configuration file (see ``find_config_file``)."""
    path = find_config_file(start)
    if path is None:
        return None, {}
    section = _read_tool_table(path) if path.name == "pyproject.toml" else _read_section(path)
    unknown = sorted(set(section) - set(SETTING_NAMES))
    if unknown:
        raise ConfigurationError(
            f"{path} [{_table_of(path)}] has unknown keys {unknown}; valid keys are {list(SETTING_NAMES)}."
        )
    for key in PATH_SETTINGS:
        if section.get(key):
            section[key] = str((path.parent / section[key]).resolve())
    return path, section


def _read_section(path):
    # No interpolation: URLs carry percent-encoded passwords.
    parser = configparser.ConfigParser(interpolation=None)
    try:
        read_utf8_ini(parser, path, "setup.cfg")
    except configparser.Error as error:
        raise ConfigurationError(
            f"Cannot read the [dbtestkit] section of {path}: {error}. Fix the file's syntax."
        ) from error
    return dict(parser.items(SETUP_CFG_SECTION))


def _has_tool_table(path):
    # Most projects have a pyproject.toml: only one that names us is parsed.
    if b"dbtestkit" not in path.read_bytes():
        return False
    return _parse_toml(path).get("tool", {}).get("dbtestkit") is not None


def _parse_toml(path):
    # tomllib is in the standard library from Python 3.11; tomli is the same parser before.
    try:
        import tomllib
    except ImportError:
        import tomli as tomllib
    data = path.read_bytes()
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ConfigurationError(
            f"{path} is not UTF-8 text: byte 0x{data[error.start]:02x} on line {line} is not "
            "valid UTF-8, as TOML requires. Save the file as UTF-8."
        ) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(
            f"Cannot read {path}, which configures dbtestkit in [{PYPROJECT_TABLE}]: {error}. "
            "Fix the file's TOML syntax."
        ) from error


def _read_tool_table(path):
    table = _parse_toml(path)["tool"]["dbtestkit"]
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: {PYPROJECT_TABLE} must be a table ([{PYPROJECT_TABLE}]).")
    for key, value in table.items():
        if not isinstance(value, (str, bool)):
            raise ConfigurationError(
                f"{path} [{PYPROJECT_TABLE}] {key} = {value!r}: write it as a string in quotes "
                "(true and false are fine for yes/no settings)."
            )
    return dict(table)


def default_cache_dir():
    """Return the platform's per-user cache directory for dbtestkit."""
    # Imported here: with DBTESTKIT_CACHE_DIR (or cache_dir=) set, a start never needs it.
    import platformdirs

    return Path(platformdirs.user_cache_dir("dbtestkit", appauthor=False))


def cache_dir_path(value=None):
    """Return the absolute cache directory a setting names, or the default one."""
    return Path(value).expanduser().resolve() if value else default_cache_dir()


def private_cache_dir(value=None, origin=None):
    """Return the cache directory, created 0700 and checked to belong to this user.

    ``origin`` says where ``value`` came from (e.g. ``--cache-dir``), for messages.
    """
    path = cache_dir_path(value)
    return private_directory(path, "cache directory", parents=True, origin=origin)


def private_directory(path, what="cache folder", parents=False, origin=None):
    """Create ``path`` (0700) or check it: refused if another user owns it, tightened if open.

    The cache directory and every folder below it are held to this rule, so
    nobody else can place or replace the files dbtestkit trusts. ``origin``
    says where the cache directory setting came from, for messages.
    """
    path = Path(path)
    where = f" (from {origin})" if origin else ""
    fix = f"Change {origin}" if origin else f"Set {ENV_PREFIX}CACHE_DIR"
    try:
        path.mkdir(mode=0o700, parents=parents, exist_ok=True)
        info = path.stat()
    except OSError as error:
        raise ConfigurationError(
            f"Cannot create the dbtestkit {what} {path}{where}: {error}. "
            f"{fix} to a writable directory."
        ) from error
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigurationError(
            f"The dbtestkit {what} {path}{where} belongs to another user (uid {info.st_uid}); "
            "dbtestkit will not keep goldens where others can replace them. "
            f"{fix} to a directory of your own, or remove that folder "
            "(it only holds caches) as its owner."
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)
    return path


def mask_url(url):
    """Render a database URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"
