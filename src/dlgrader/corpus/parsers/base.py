"""The draft block every article parser produces."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DraftBlock:
    """One question-and-answer block as it stands in a source article, before curation.

    ``question`` is None where the article lost its header (it is assigned during curation);
    ``answer`` is the block's text, verbatim from the article apart from whitespace.
    """

    document: str
    locator: str
    question: str | None
    answer: str

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)
