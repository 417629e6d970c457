"""Locate an Alembic project's files from alembic.ini, without importing Alembic.

The fingerprint must come from file bytes only: loading the versions folder
through Alembic imports every revision, and revisions often import the
application. Paths are resolved the way Alembic resolves them.
"""

import configparser
import os
import re
from importlib import resources
from pathlib import Path

from dbtestkit.config import read_utf8_ini
from dbtestkit.exceptions import ConfigurationError

DEFAULT_SECTION = "alembic"
# Options of the main section that only affect how new revision files are
# written or how Alembic talks, never the schema a history builds.
# script_location and version_locations are left out too: they are absolute
# once %(here)s is expanded, and the files they lead to are hashed instead,
# so two checkouts in different folders share a fingerprint (a CI cache key).
NON_SCHEMA_OPTIONS = frozenset({
    "sqlalchemy.url", "file_template", "truncate_slug_length", "timezone",
    "output_encoding", "revision_environment", "prepend_sys_path", "here",
    "path_separator", "version_path_separator", "script_location", "version_locations",
})
SEPARATORS = {"space": " ", "newline": "\n", "os": os.pathsep, ":": ":", ";": ";"}
LEGACY_SPLIT = re.compile(r", *|(?: +)")
# What an env.py that builds an async engine from sqlalchemy.url says (the
# `alembic init -t async` template and its variants): it needs an async URL.
ASYNC_ENV = re.compile(rb"\b(async_engine_from_config|create_async_engine)\b")


class AlembicProject:
    """An Alembic project seen through its files: ini options, env.py, revisions."""

    def __init__(self, ini_path=None, *, options=None, section=DEFAULT_SECTION, config=None,
                 origin=None):
        self.ini_path = Path(ini_path).resolve() if ini_path else None
        # Where the path came from (e.g. "--alembic-ini"), for messages.
        self.origin = origin
        self.section = section
        self.config = config
        self.options = options if options is not None else self._read_ini()
        self.script_location = self._script_location()
        self.version_locations = self._version_locations()
        self.recursive = self.options.get("recursive_version_locations", "").lower() in (
            "true", "1", "yes", "on",
        )

    @classmethod
    def from_config(cls, config):
        """Describe the project behind an ``alembic.config.Config`` object."""
        section = config.config_ini_section
        options = dict(config.file_config.items(section)) if config.file_config.has_section(
            section
        ) else {}
        ini = config.config_file_name
        return cls(ini, options=options, section=section, config=config)

    def _read_ini(self):
        if self.ini_path is None:
            raise ConfigurationError("No alembic.ini given; pass alembic_ini= or alembic_config=.")
        if not self.ini_path.is_file():
            if self.origin:
                advice = f"Fix {self.origin} to name your project's alembic.ini"
            else:
                advice = ("Pass alembic_ini= with the path to your project's alembic.ini, or set "
                          "alembic_ini in setup.cfg [dbtestkit]")
            raise ConfigurationError(
                f"alembic.ini not found at {self.ini_path}"
                f"{f' (from {self.origin})' if self.origin else ''}. {advice} (relative paths are "
                "relative to the working directory, or to setup.cfg when set there)."
            )
        parser = configparser.ConfigParser(defaults={"here": str(self.ini_path.parent)})
        try:
            read_utf8_ini(parser, self.ini_path, "alembic.ini")
            if not parser.has_section(self.section):
                raise ConfigurationError(
                    f"{self.ini_path} has no [{self.section}] section; is it an alembic.ini?"
                )
            return dict(parser.items(self.section))
        except configparser.Error as error:
            raise ConfigurationError(f"Cannot parse {self.ini_path}: {error}") from error

    def _script_location(self):
        value = self.options.get("script_location")
        if not value:
            raise ConfigurationError(
                f"{self.ini_path} [{self.section}] has no script_location; "
                "set it, e.g. script_location = %(here)s/migrations."
            )
        path = resolve_location(value)
        if not (path / "env.py").is_file():
            raise ConfigurationError(
                f"script_location {value!r} resolves to {path}, which has no env.py. "
                "Relative locations are relative to the working directory (as in Alembic); "
                "write script_location = %(here)s/... in alembic.ini to make it independent "
                "of where the tests start."
            )
        return path

    def _version_locations(self):
        raw = self.options.get("version_locations")
        if not raw:
            return [self.script_location / "versions"]
        separator = self.options.get("path_separator") or self.options.get("version_path_separator")
        if separator is None:
            parts = LEGACY_SPLIT.split(raw)
        elif separator in SEPARATORS:
            parts = raw.split(SEPARATORS[separator])
        else:
            raise ConfigurationError(
                f"path_separator {separator!r} in {self.ini_path} is not one of {sorted(SEPARATORS)}."
            )
        return [resolve_location(part.strip()) for part in parts if part.strip()]

    @property
    def async_env(self):
        """Whether env.py builds an async engine from ``sqlalchemy.url`` (so it needs an async driver there)."""
        if not hasattr(self, "_async_env"):
            self._async_env = bool(ASYNC_ENV.search((self.script_location / "env.py").read_bytes()))
        return self._async_env

    def schema_options(self):
        """Return the main-section options that can change the built schema, sorted."""
        return sorted(
            (key, value) for key, value in self.options.items() if key not in NON_SCHEMA_OPTIONS
        )

    def source_files(self):
        """Yield ``(label, path)`` for env.py and every revision file, in a stable order."""
        yield "env.py", os.path.join(self.script_location, "env.py")
        for index, location in enumerate(self.version_locations):
            # Plain os.walk and string paths: this runs on every warm start.
            for relative, path in sorted(self._python_files(str(location))):
                yield f"versions[{index}]/{relative}", path

    def _python_files(self, location):
        for root, dirs, files in os.walk(location):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            prefix = os.path.relpath(root, location).replace(os.sep, "/")
            for name in files:
                if name.endswith(".py"):
                    relative = name if prefix == "." else f"{prefix}/{name}"
                    yield relative, os.path.join(root, name)
            if not self.recursive:
                break


def resolve_location(value):
    """Resolve a script or version location as Alembic does: path, or ``package:folder``."""
    if not os.path.isabs(value) and ":" in value and not re.match(r"^[A-Za-z]:[\\/]", value):
        package, *parts = value.split(":")
        try:
            ref = resources.files(package)
        except ModuleNotFoundError as error:
            raise ConfigurationError(
                f"Location {value!r} names package {package!r}, which cannot be imported."
            ) from error
        for part in parts:
            ref = ref / part
        return Path(str(ref))
    return Path(value).absolute()
