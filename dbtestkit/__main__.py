"""Allow ``python -m dbtestkit``."""

from dbtestkit.cli import main

if __name__ == "__main__":
    main()
