"""What happened to a test (from pytest's reports), its clone kept or dropped, and the end-of-run lines.

pytest captures stderr while tests run and xdist workers have no terminal,
so what dbtestkit has to say (kept clones, the DBTESTKIT_VERBOSE summary)
is collected here and shown by the terminal summary of the process the
user watches.
"""

import pytest

REPORTS = pytest.StashKey[dict]()
# Lines for the terminal summary: this process's, and those xdist workers sent.
LINES = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report, so a fixture's teardown knows whether its test failed."""
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


def failed(item):
    """Tell whether ``item``'s setup or call failed (in a fixture's teardown)."""
    return any(report.failed for report in item.stash.get(REPORTS, {}).values())


def release_clone(item, database, clone):
    """Keep the clone of a failed test when the database says so, else drop it."""
    if failed(item) and database.keep:
        location = clone.keep(item.nodeid)
        LINES.append(f"kept the clone of failed test {item.nodeid} at {location}")
    else:
        clone.drop()


def own_lines():
    """Return this process's lines: kept clones, and the run summary with DBTESTKIT_VERBOSE."""
    lines, LINES[:] = list(LINES), []
    from dbtestkit.report import RUN, verbose

    if verbose():
        lines += RUN.claim()
    return lines


def pytest_sessionfinish(session):
    """On an xdist worker, send the lines to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["dbtestkit_lines"] = own_lines()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """On the xdist controller, collect a worker's lines."""
    LINES.extend(getattr(node, "workeroutput", {}).get("dbtestkit_lines", ()))


def pytest_terminal_summary(terminalreporter):
    """Show kept clones and the run summary (DBTESTKIT_VERBOSE) at the end of the run."""
    if getattr(terminalreporter.config, "workeroutput", None) is not None:
        return
    lines = own_lines()
    if lines:
        terminalreporter.section("dbtestkit")
        for line in lines:
            terminalreporter.write_line(f"dbtestkit: {line}")
