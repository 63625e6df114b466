"""Render a GradeResult for a person: rich on a terminal, plain text when piped or NO_COLOR is set."""

from __future__ import annotations

import re

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dlgrader.corpus.text import STOPWORDS, stem
from dlgrader.models import Feedback, GradeResult, Question

VERDICT_STYLE = {"covered": ("✔", "green"), "partial": ("◐", "yellow"), "missing": ("✘", "red"),
                 "contradicted": ("⚠", "bold red")}


def score_bar(score: float, width: int = 30) -> Text:
    filled = round(width * score / 100)
    colour = "green" if score >= 70 else "yellow" if score >= 40 else "red"
    bar = Text("█" * filled, style=colour)
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {score:g}/100")
    return bar


EXCERPT_WORDS = 10
_WORD = re.compile(r"\S+")


def evidence_excerpt(evidence: str, key_point: str, *, max_words: int = EXCERPT_WORDS) -> str:
    """The ``max_words`` consecutive words of ``evidence`` that repeat most of the key point's words, with
    "…" where the span was cut: enough to recognise one's own words, short enough to keep the table compact.
    Whole words only."""
    words = _WORD.findall(evidence)
    if len(words) <= max_words:
        return " ".join(words)
    wanted = {stem(w) for w in re.findall(r"[a-z0-9]+", key_point.lower()) if w not in STOPWORDS}
    hits = [int(stem(re.sub(r"[^a-z0-9]", "", w.lower())) in wanted) for w in words]
    best = max(range(len(words) - max_words + 1), key=lambda i: (sum(hits[i:i + max_words]), -i))
    text = " ".join(words[best:best + max_words])
    return ("… " if best > 0 else "") + text + (" …" if best + max_words < len(words) else "")


def render_practice_result(result: GradeResult, console: Console, *, heading: str = "") -> None:
    """A compact result for the practice loop: one line per key point (evidence trimmed to the words that
    match), misconceptions with their corrections, flags and the summary. It starts by repeating the
    question, so that the question stays on screen above its result."""
    if result.status != "graded" or result.score is None:
        render_result(result, console)
        return
    line = Text(heading + (" " if heading else ""), style="dim")
    line.append(result.question or "", style="bold")
    console.print(line)
    score = Text("Score ")
    score.append_text(score_bar(result.score, width=20))
    score.append(f"   grade {result.grade:g}/5")
    console.print(score)
    for kp in result.key_points:
        mark, style = VERDICT_STYLE[kp.verdict]
        row = Text(f" {mark} ", style=style)
        row.append(kp.text, style=style if kp.verdict != "covered" else "")
        if kp.weight == "supporting":
            row.append(" (supporting)", style="dim")
        if kp.evidence is not None and kp.verdict != "missing":
            row.append(f"  «{evidence_excerpt(kp.evidence.text, kp.text)}»", style="dim italic")
        if kp.note and kp.misconception is None:
            row.append(f"  ({kp.note})", style="dim")
        console.print(row)
    _render_tail(result, console)


def _render_tail(result: GradeResult, console: Console) -> None:
    """What follows the key points in both views: misconceptions with corrections, flags, the summary."""
    for m in result.misconceptions:
        console.print(Text("✗ Misconception: ", style="bold red") + Text(f"\"{m.evidence.text}\"")
                      + Text(f"\n  Correct: {m.correction}", style="green"))
    for flag in result.flags:
        penalty = f" (-{flag.penalty:g})" if flag.penalty else ""
        console.print(Text(f"⚑ {flag.code}{penalty}: ", style="bold magenta") + Text(flag.message))
    console.print(Text(result.summary, style="italic"))


def render_reference(question: Question, console: Console) -> None:
    """The reference answer with its sources named by article title and question number."""
    console.print(Text("Reference answer: ", style="bold") + Text(question.reference_answer))
    if question.sources:
        labels = list(dict.fromkeys(s.label for s in question.sources))
        console.print(Text("Sources: " + "; ".join(labels), style="dim"))


def render_result(result: GradeResult, console: Console, *, show_reference: str | None = None) -> None:
    """Print a result: score bar, key points with evidence, flags, summary."""
    if result.status != "graded":
        console.print(Text(f"[{result.status}] ", style="bold yellow") + Text(result.summary or result.error or ""))
        for s in result.suggestions:
            console.print(f"  did you mean: {s.question}  (id {s.question_id})")
        return
    assert result.score is not None and result.grade is not None
    header = Text(f"{result.question}\n", style="bold")
    header.append("Score ")
    header.append_text(score_bar(result.score))
    header.append(f"   grade {result.grade:g}/5")
    console.print(header)
    table = Table(show_header=True, header_style="bold", expand=True, show_lines=False)
    table.add_column("", width=2)
    table.add_column("key point", ratio=3)
    table.add_column("sim", justify="right", width=5)
    table.add_column("evidence in your answer", ratio=3)
    for kp in result.key_points:
        mark, style = VERDICT_STYLE[kp.verdict]
        evidence = kp.evidence.text if kp.evidence else "—"
        if kp.note and kp.misconception is None:
            evidence += f"  ({kp.note})"
        point = kp.text + (" (supporting)" if kp.weight == "supporting" else "")
        table.add_row(Text(mark, style=style), Text(point, style=style if kp.verdict != "covered" else ""),
                      f"{kp.similarity:.2f}", evidence)
    console.print(table)
    _render_tail(result, console)
    if show_reference:
        console.print(Text("Reference answer: ", style="bold") + Text(show_reference))



_CHANGE_WHY = {"lowered": "lowered by the judge", "raised": "raised by the judge",
               "raise_capped": "raised one step only", "void": "judge's label void",
               "raise_refused": "refused"}


def render_feedback(feedback: Feedback, console: Console) -> None:
    """Print LLM feedback: the score with the judge's labels, what changed, strengths, gaps, suggestion."""
    if not feedback.available:
        console.print(Text("LLM feedback unavailable: ", style="bold yellow") + Text(str(feedback.reason)))
        return
    console.print(Text("LLM feedback", style="bold") + Text(
        f"  ({feedback.model}, prompt {feedback.prompt_version}, cache {feedback.cache})", style="dim"))
    line = Text("Score with the judge's labels ")
    line.append_text(score_bar(float(feedback.score or 0.0)))
    line.append(f"   grade {feedback.grade or 0:g}/5   (embeddings alone: {feedback.engine_score or 0:g})")
    console.print(line)
    for change in feedback.key_points:
        if change["status"] in _CHANGE_WHY:
            mark, style = VERDICT_STYLE[str(change["final"])]
            why = f"judge: {change.get('llm')}; {_CHANGE_WHY[str(change['status'])]}"
            if change.get("reason"):
                why += f" ({change['reason']})"
            console.print(Text(f" {mark} {change['text']}  ", style=style) + Text(why, style="dim"))
    for title, items, style in (("Strengths", feedback.strengths, "green"), ("Gaps", feedback.gaps, "yellow")):
        if items:
            console.print(Text(title, style=f"bold {style}"))
            for item in items:
                console.print(Text(f" • {item.text} ") + Text(f"[{', '.join(item.refs)}]", style="dim"))
    if feedback.suggestion:
        console.print(Text("Suggestion: ", style="bold cyan") + Text(f"{feedback.suggestion.text} ")
                      + Text(f"[{', '.join(feedback.suggestion.refs)}]", style="dim"))
    for ref in feedback.references:
        console.print(Text(f"  {ref['id']} {ref['text']} ({ref['document']}, {ref['locator']})", style="dim"))
    check, usage = feedback.verification, feedback.usage
    console.print(Text(
        f"verified: {check.get('quotes_voided', 0)} quote(s) voided, {check.get('removed', 0)} sentence(s) "
        f"removed ({check.get('uncited_removed', 0)} uncited, {check.get('unsupported_removed', 0)} "
        f"unsupported); tokens {usage.get('prompt_tokens', 0)} + {usage.get('completion_tokens', 0)}",
        style="dim"))
