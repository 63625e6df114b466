"""One parser per source-article format; ``PARSERS`` maps each document to its parser."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from dlgrader.corpus.parsers.base import DraftBlock

__all__ = ["DraftBlock", "PARSERS", "parser_for"]

Parser = Callable[[str, str], list[DraftBlock]]

# document file name -> module in this package (the article formats differ; see each module's docstring)
PARSERS: dict[str, str] = {
    "000_984f2830a633304f.txt": "a000",
    "001_5c83a72077dff821.txt": "a001",
    "002_2fb84cbebc818e76.txt": "a002",
    "003_974ae0b661a5fe52.txt": "a003",
    "004_59de16f5a49321a3.txt": "a004",
}


def parser_for(document: str) -> Parser:
    """The parse function for a known source document."""
    module = importlib.import_module(f"dlgrader.corpus.parsers.{PARSERS[document]}")
    parse: Parser = module.parse
    return parse
