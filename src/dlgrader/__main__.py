"""``python -m dlgrader``."""

from dlgrader.cli import main

main()
