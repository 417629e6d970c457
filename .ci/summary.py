"""Turn the closing lines of `python -m unittest` into "N passed, N failed, N skipped"."""

import re
import sys


def summarize(text, exit_status):
    """Return ``(passed, failed, skipped)`` from unittest's own summary of the run."""
    ran = re.findall(r"^Ran (\d+) tests? in ", text, re.MULTILINE)
    verdict = re.findall(r"^(OK|FAILED)(?: \((.*)\))?\s*$", text, re.MULTILINE)
    if not ran or not verdict:
        # The runner died before reporting: count that as one failure.
        return 0, 1, 0
    total = int(ran[-1])
    # e.g. "failures=1, errors=2, skipped=3, expected failures=1, unexpected successes=1"
    counts = {}
    for part in filter(None, (verdict[-1][1] or "").split(", ")):
        key, _, value = part.rpartition("=")
        counts[key] = int(value)
    failed = counts.get("failures", 0) + counts.get("errors", 0) + counts.get("unexpected successes", 0)
    skipped = counts.get("skipped", 0)
    if exit_status != 0 and failed == 0:
        failed = 1
    return total - failed - skipped, failed, skipped


def main():
    """Print the summary line and exit non-zero when anything failed."""
    log_path, exit_status = sys.argv[1], int(sys.argv[2])
    with open(log_path, encoding="utf-8", errors="replace") as log:
        passed, failed, skipped = summarize(log.read(), exit_status)
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
