"""Versioned prompt templates from ``prompts/`` and the messages built from them for one answer.

A template file is TOML with ``version``, ``system``, ``user`` and ``repair`` (``string.Template`` syntax).
The prompt holds only the matched question, its key points (K1..) and its reference excerpts (R1..); the
candidate's answer goes between markers whose name carries a nonce derived from the answer itself, and
every ``<``/``>`` of the answer is swapped for a look-alike of the same length, so the answer can neither
close the data field nor open a role tag, and character offsets into it stay those of the original.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from string import Template

from dlgrader.errors import ConfigError
from dlgrader.models import Question

DEFAULT_PROMPT = "feedback-v1"
# One character for one character: offsets into the neutralised answer are offsets into the original.
_NEUTRALISE = str.maketrans({"<": "\u2039", ">": "\u203a"})


@dataclass(frozen=True)
class Excerpt:
    """A reference excerpt the feedback may cite, with the id the model sees."""

    id: str
    text: str
    document: str
    locator: str


@dataclass(frozen=True)
class PromptTemplate:
    """One prompt version: the system text, the user template and the repair message for invalid output."""

    version: str
    system: str
    user: Template
    repair: Template

    @classmethod
    def load(cls, path: Path) -> PromptTemplate:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"prompt template not found: {path}") from exc
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read prompt template {path}: {exc}") from exc
        missing = [k for k in ("version", "system", "user", "repair") if not isinstance(data.get(k), str)]
        if missing:
            raise ConfigError(f"prompt template {path} lacks {', '.join(missing)}")
        return cls(version=data["version"], system=data["system"], user=Template(data["user"]),
                   repair=Template(data["repair"]))

    def messages(self, question: Question, excerpts: list[Excerpt], answer: str) -> list[dict[str, str]]:
        """System and user messages for one answer to one question."""
        key_points = "\n".join(f"K{i + 1}: {kp.text}" for i, kp in enumerate(question.key_points))
        refs = "\n".join(f"{e.id}: {e.text}" for e in excerpts) or "(none)"
        user = self.user.substitute(question=question.question, key_points=key_points, excerpts=refs,
                                    nonce=answer_nonce(answer), answer=neutralise(answer))
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def repair_message(self, error: str, n_key_points: int) -> dict[str, str]:
        text = self.repair.substitute(error=error[:500], n_key_points=n_key_points)
        return {"role": "user", "content": text}


def load_prompt(prompts_dir: Path, name: str = DEFAULT_PROMPT) -> PromptTemplate:
    """The template ``<prompts_dir>/<name>.toml``."""
    return PromptTemplate.load(prompts_dir / f"{name}.toml")


def neutralise(answer: str) -> str:
    """The answer with every angle bracket replaced by a same-length look-alike (no tag can be formed)."""
    return answer.translate(_NEUTRALISE)


def answer_nonce(answer: str) -> str:
    """A marker suffix derived from the answer: an answer cannot contain its own hash, so cannot forge it."""
    return hashlib.sha256(answer.encode("utf-8")).hexdigest()[:12]


def excerpts_for(question: Question, limit: int = 12) -> list[Excerpt]:
    """What the judge may cite: the key points first (an editorial point in its corrected words, others as
    their source excerpt), then the question's source excerpts; deduplicated, in bank order."""
    seen: set[str] = set()
    out: list[Excerpt] = []
    candidates = [(kp.text if kp.editorial or not kp.excerpt else kp.excerpt,
                   "rubric (editorial correction)" if kp.editorial else (kp.source or "reference answer"),
                   f"key point {i + 1}") for i, kp in enumerate(question.key_points)]
    candidates += [(s.excerpt, s.document, s.locator) for s in question.sources]
    for text, document, locator in candidates:
        key = " ".join(text.lower().split())
        if key in seen:
            continue
        seen.add(key)
        out.append(Excerpt(id=f"R{len(out) + 1}", text=text, document=document, locator=locator))
        if len(out) >= limit:
            break
    return out
