"""Check one curated article file (corpus/curated/<doc>.jsonl) against the curation rules.

Usage: python tools/check_curated.py corpus/curated/000_984f2830a633304f.jsonl
Standard library only; the project's `dlgrader corpus validate` applies the same rules to the built bank.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from dlgrader.corpus.text import occurs_verbatim, support_ratio  # noqa: E402

TOPICS = {
    "fundamentals", "activations", "optimisation", "regularisation", "cnn", "sequence_models",
    "attention_transformers", "generative_models", "transfer_learning", "evaluation",
    "training_practice", "nlp", "llm_systems", "deployment_ethics",
}
DIFFICULTIES = {"beginner", "intermediate", "advanced"}
MIN_SUPPORT = 0.6


def main(path: str) -> int:
    p = Path(path)
    doc_name = p.name.replace(".jsonl", ".txt")
    document = (p.parents[1] / "sources" / doc_name).read_text(encoding="utf-8")
    errors: list[str] = []
    ids: list[str] = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        where = f"line {n} ({item.get('id')})"
        required = ("id", "question", "locator", "excerpt") if item.get("merge_only") else (
            "id", "question", "locator", "topic", "difficulty", "reference_answer", "key_points")
        for field in required:
            if not item.get(field):
                errors.append(f"{where}: missing {field}")
        if not re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", item.get("id", "")):
            errors.append(f"{where}: id must be snake_case")
        ids.append(item.get("id", ""))
        if item.get("merge_only"):
            pass
        elif item.get("topic") not in TOPICS:
            errors.append(f"{where}: unknown topic {item.get('topic')!r}")
        if not item.get("merge_only") and item.get("difficulty") not in DIFFICULTIES:
            errors.append(f"{where}: bad difficulty")
        kps = item.get("key_points") or []
        if item.get("merge_only"):
            # A question whose answer was lost here: it joins the same question of another article.
            if not occurs_verbatim(item.get("excerpt", ""), document):
                errors.append(f"{where}: merge_only excerpt not verbatim")
            if len(kps) > 2:
                errors.append(f"{where}: merge_only items carry at most 2 key points")
        elif not 2 <= len(kps) <= 6:
            errors.append(f"{where}: {len(kps)} key points (need 2-6)")
        excerpts = []
        for kp in kps:
            text, excerpt = kp.get("text", ""), kp.get("excerpt", "")
            excerpts.append(excerpt)
            if not occurs_verbatim(excerpt, document):
                errors.append(f"{where}: excerpt not verbatim: {excerpt[:70]!r}")
            ratio = support_ratio(text, excerpt)
            if ratio < MIN_SUPPORT:
                errors.append(f"{where}: key point support {ratio:.2f} < {MIN_SUPPORT}: {text[:70]!r}")
        ref_ratio = support_ratio(item.get("reference_answer", ""), " ".join(excerpts))
        if not item.get("merge_only") and ref_ratio < MIN_SUPPORT:
            errors.append(f"{where}: reference_answer support {ref_ratio:.2f} vs its excerpts")
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        errors.append(f"duplicate ids within the article: {sorted(dupes)}")
    excluded = p.with_name(p.stem + ".excluded.jsonl")
    n_excl = 0
    if excluded.exists():
        for line in excluded.read_text(encoding="utf-8").splitlines():
            if line.strip():
                e = json.loads(line)
                n_excl += 1
                if not (e.get("locator") and e.get("reason")):
                    errors.append(f"excluded entry without locator/reason: {e}")
    for e in errors:
        print(e)
    print(f"{len(ids)} items, {n_excl} excluded, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
