"""Run env.py, migrations and seeds inside the test process, then put the process back as it was.

A golden is built inside the test process on a cold run and not at all on a
warm one, so whatever a build changes in the process would make the two runs
differ. ``preserved()`` puts back, after the block:

* logging: the root logger and every logger that existed before (level,
  handlers, filters, propagate, disabled), ``logging.disable()``; a logger
  that existed when env.py called ``fileConfig()`` or ``dictConfig()`` gets
  the state it had just before that call, a logger made by such a call is
  reset to a fresh one; the process's own handlers are not closed by those
  calls, and handlers the build made and no logger uses any more are closed;
* ``warnings`` filters and ``showwarning`` (``logging.captureWarnings()``);
* ``sys.path`` (Alembic's ``prepend_sys_path``), ``sys.stdout`` and
  ``sys.stderr``, the working directory and ``os.environ``.

Modules imported by the block stay imported. Unless ``DBTESTKIT_VERBOSE``
asks for it, log records below WARNING (Alembic's "Running upgrade" lines,
SQL echo) are dropped during the block.
"""

import contextlib
import logging
import os
import sys
import warnings

from dbtestkit.report import verbose

# A logger as logging.getLogger() makes it: level, handlers, propagate, filters, disabled.
_FRESH = (logging.NOTSET, (), True, (), False)


@contextlib.contextmanager
def preserved():
    """Undo, after the block, what it changed in the process (see the module docstring)."""
    logs = _LoggingState()
    path, streams, cwd, environ = sys.path[:], (sys.stdout, sys.stderr), _cwd(), dict(os.environ)
    try:
        with warnings.catch_warnings(), logs.watching_configuration():
            if not verbose():
                logging.disable(max(logging.INFO, logging.root.manager.disable))
            yield
    finally:
        logs.restore()
        sys.path[:] = path
        sys.stdout, sys.stderr = streams
        if cwd is not None and _cwd() != cwd:
            with contextlib.suppress(OSError):  # deleted meanwhile: nowhere to go back to
                os.chdir(cwd)
        _restore_environ(environ)


def _cwd():
    try:
        return os.getcwd()
    except OSError:  # removed behind our back: nothing sensible to compare with
        return None


def _restore_environ(saved):
    for key in [key for key in os.environ if key not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _loggers():
    """Return ``{name: logger}`` for every logger of the process, the root as ``""``."""
    found = {"": logging.getLogger()}
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            found[name] = logger
    return found


def _state(logger):
    # The list objects as well as their contents: assertLogs() and pytest's
    # caplog hold on to a logger's own handler list.
    return (logger.level, tuple(logger.handlers), logger.propagate, tuple(logger.filters),
            logger.disabled, logger.handlers, logger.filters)


class _LoggingState:
    """The logging set-up of the process before a build, and what to put back after it."""

    def __init__(self):
        self.restore_to = {name: _state(logger) for name, logger in _loggers().items()}
        self.disable = logging.root.manager.disable
        self.factory = logging.getLogRecordFactory()
        self.logger_class = logging.getLoggerClass()
        self.handlers = set(_live_handlers())
        self.named_handlers = dict(getattr(logging, "_handlers", {}))

    @contextlib.contextmanager
    def watching_configuration(self):
        """Within the block, note the loggers' states before each fileConfig()/dictConfig() call."""
        # Imported here, not at start-up: logging.config imports socketserver (about 15 ms).
        import logging.config

        originals = {name: getattr(logging.config, name) for name in ("fileConfig", "dictConfig")}
        for name, original in originals.items():
            setattr(logging.config, name, self._watched(original))
        try:
            yield
        finally:
            for name, original in originals.items():
                setattr(logging.config, name, original)

    def _watched(self, configure):
        def watched(*args, **kwargs):
            before = _loggers()
            for name, logger in before.items():
                self.restore_to.setdefault(name, _state(logger))
            try:
                with _handlers_left_open():
                    return configure(*args, **kwargs)
            finally:
                for name in _loggers().keys() - before.keys():
                    self.restore_to.setdefault(name, _FRESH)

        watched.__wrapped__ = configure
        return watched

    def restore(self):
        """Put every noted logger back, then close the handlers the build made and left unused."""
        loggers = _loggers()
        # Held here: once no logger refers to them they would be collected, files still open.
        made = [handler for handler in _live_handlers() if handler not in self.handlers]
        for name, state in self.restore_to.items():
            logger = loggers.get(name)
            if logger is not None:
                _put_back(logger, state)
        logging.setLogRecordFactory(self.factory)
        logging.setLoggerClass(self.logger_class)
        named = getattr(logging, "_handlers", None)
        if named is not None:
            named.clear()
            named.update(self.named_handlers)
        logging.disable(self.disable)  # also clears the loggers' cached effective levels
        in_use = {id(handler) for logger in loggers.values() for handler in logger.handlers}
        for handler in made:
            if id(handler) not in in_use:
                handler.close()


def _put_back(logger, state):
    level, handlers, propagate, filters, disabled, *lists = state
    handler_list, filter_list = lists or (None, None)
    if handler_list is not None:
        logger.handlers, logger.filters = handler_list, filter_list
    logger.handlers[:] = handlers
    logger.filters[:] = filters
    logger.level, logger.propagate, logger.disabled = level, propagate, disabled


def _live_handlers():
    handlers = (ref() for ref in getattr(logging, "_handlerList", ()))
    return [handler for handler in handlers if handler is not None]


@contextlib.contextmanager
def _handlers_left_open():
    # fileConfig() and dictConfig() flush and close every handler the process
    # has (a MemoryHandler would lose its target, a "w" FileHandler stop
    # writing): hide the existing ones from logging's registry meanwhile.
    registry = getattr(logging, "_handlerList", None)
    if not isinstance(registry, list):
        yield
        return
    hidden = registry[:]
    del registry[:]
    try:
        yield
    finally:
        registry[:0] = hidden
