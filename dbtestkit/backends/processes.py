"""Which process made a name or a record (host and pid), and whether it is still alive."""

import errno
import itertools
import os
import re
import secrets
import socket

_clone_counter = itertools.count(1)


def process_tag(separator="-"):
    """Return ``host-pid``, the part of a name that tells which process owns it."""
    host = re.sub(r"[^a-z0-9]", "", socket.gethostname().lower())[:16] or "host"
    return f"{host}{separator}{os.getpid()}"


def unique_suffix(separator="-", random_bytes=3):
    """Return a suffix unique across processes and machines: host, pid, counter, random."""
    return separator.join(
        [process_tag(separator), str(next(_clone_counter)), secrets.token_hex(random_bytes)]
    )


def this_host():
    """Return this machine's name as dbtestkit names and records hold it."""
    return process_tag().rpartition("-")[0]


def creator():
    """Return who is about to create something: this host and process, for records."""
    return {"host": this_host(), "pid": os.getpid()}


def creator_is_gone(fields):
    """Tell whether the creator a record names (``host``, ``pid``) is a dead process on this host.

    A process on another host cannot be checked, so it counts as alive.
    """
    try:
        pid = int(fields.get("pid", 0))
    except (TypeError, ValueError):
        return False
    return fields.get("host") == this_host() and not pid_alive(pid)


def owner_is_gone(name):
    """Tell whether the host and pid inside a dbtestkit name are a dead process on this host."""
    host = this_host()
    match = re.search(rf"[-_]{re.escape(host)}[-_](\d+)[-_]", name)
    if match is None:
        return False
    return not pid_alive(int(match.group(1)))


def pid_alive(pid):
    """Tell whether a process with ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as error:
        return error.errno == errno.EPERM
    return True
