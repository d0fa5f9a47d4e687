"""The CLI's two consoles. On a terminal, output fits the terminal; piped or redirected (a file, a pager, a
script, CI), tables keep their full width and no line is folded at 80 columns. Errors are never wrapped, so a
path or a key in them stays whole."""

from __future__ import annotations

import sys

from rich.console import Console

PIPED_WIDTH = 1000     # wide enough for any table this CLI prints; tables size to their content


def output_console() -> Console:
    """Standard output: the terminal's width, or full width when it is not a terminal."""
    return Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)


def error_console() -> Console:
    """Standard error: lines are never wrapped."""
    return Console(stderr=True, soft_wrap=True)
