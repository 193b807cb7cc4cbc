"""Allow ``python -m mmarctl``."""

from mmarctl.cli import main

if __name__ == "__main__":
    main()
