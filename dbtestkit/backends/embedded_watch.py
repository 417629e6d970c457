"""The idle watcher of an embedded cluster: stops it once nobody has used it for a while.

Run as ``python -m dbtestkit.backends.embedded_watch ROOT IDLE_SECONDS``,
detached, by the first process that finds no watcher. The cluster is busy
while a process that registered itself in ``clients/`` is alive or a client
session is open; after ``IDLE_SECONDS`` of neither it is stopped, under the
cluster's lock, and the watcher leaves.
"""

import contextlib
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from dbtestkit.backends.embedded_cluster import Cluster
from dbtestkit.backends.processes import pid_alive

LOCK_NAME = "watcher.lock"


def serve(cluster):
    """Make sure ``cluster`` runs and is watched; return the seconds its start took, or None if it ran."""
    started = cluster.ensure_running()
    if not watching(cluster):
        # Through a shell that leaves at once, like the server: nobody's child.
        subprocess.run(
            ["/bin/sh", "-c", 'exec "$@" &', "sh", sys.executable, "-m", "dbtestkit.backends.embedded_watch",
             str(cluster.root), str(cluster.idle_seconds)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
        )
    return started


def watching(cluster):
    """Tell whether a watcher holds ``cluster``'s watcher lock."""
    with open(os.open(cluster.root / LOCK_NAME, os.O_RDONLY | os.O_CREAT, 0o600)) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def live_clients(cluster):
    """Return the pids of registered processes still alive (forgetting the dead ones)."""
    alive = []
    for marker in cluster.clients.iterdir() if cluster.clients.is_dir() else ():
        if marker.name.isdigit() and pid_alive(int(marker.name)):
            alive.append(int(marker.name))
        else:
            with contextlib.suppress(OSError):
                marker.unlink()
    return alive


def open_sessions(cluster):
    """Return how many client sessions (other than the asking one) the cluster has; -1 if it cannot tell."""
    import psycopg

    try:
        with psycopg.connect(host=str(cluster.socket_dir), dbname="postgres", user="postgres",
                             connect_timeout=5) as connection:
            return connection.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
    except psycopg.Error:
        return -1


def busy(cluster):
    """Tell whether anything uses the cluster now."""
    return bool(live_clients(cluster)) or open_sessions(cluster) != 0


def watch(cluster, poll=None):
    """Stop ``cluster`` after ``idle_seconds`` without use; return when it is stopped or gone."""
    poll = poll or max(0.2, min(5.0, cluster.idle_seconds / 5))
    last_busy = time.monotonic()
    while True:
        time.sleep(poll)
        if cluster.postmaster_pid() is None:
            return
        if busy(cluster):
            last_busy = time.monotonic()
            continue
        if time.monotonic() - last_busy < cluster.idle_seconds:
            continue
        if cluster.stop(reason=f"stopped after {cluster.idle_seconds}s idle:", unless=lambda: busy(cluster)):
            return
        last_busy = time.monotonic()


def main(argv):
    """Watch the cluster in folder ``argv[0]`` with an idle timeout of ``argv[1]`` seconds."""
    cluster = Cluster(Path(argv[0]), idle_seconds=int(argv[1]))
    try:
        # serve() made the lock file. Not created here: a watcher that starts after the
        # cluster's folder was removed would otherwise leave a folder holding only it.
        descriptor = os.open(cluster.root / LOCK_NAME, os.O_RDONLY)
    except FileNotFoundError:
        return
    with open(descriptor) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another watcher has it
        watch(cluster)


if __name__ == "__main__":
    os.chdir("/")
    main(sys.argv[1:])
