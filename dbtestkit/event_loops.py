"""Running blocking code that may start an event loop of its own, from code that may be inside one."""

import asyncio
import threading


def outside_event_loop(function, *args):
    """Return ``function(*args)``, run in a thread of its own when this thread runs an event loop.

    ``asyncio.run()`` cannot be called inside a running loop: an env.py that
    calls it (Alembic's async template), or an async loader, would fail there.
    The loop waits, blocked, until the function returns.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args)
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, name="dbtestkit-outside-loop", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome.pop("error")
    return outcome["value"]
