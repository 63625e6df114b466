"""List the curated key points of the bank with the refs a rubric file cites them by.

A ref is ``<doc>:L<line>:<k>``: the article's three-digit prefix, the line of its curated file
(``corpus/curated/<doc>_*.jsonl``, 1-based) and the key point's position in that item (0-based).

    python tools/rubric_refs.py dropout early_stopping    # the items curated under these ids
    python tools/rubric_refs.py --all                     # every curated item
    python tools/rubric_refs.py --uncovered               # refs no rubric file cites yet
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CURATED = ROOT / "corpus" / "curated"
RUBRIC = ROOT / "corpus" / "rubric"


def curated_items() -> list[tuple[str, int, dict]]:
    out = []
    for path in sorted(CURATED.glob("0*.jsonl")):
        if path.name.endswith(".excluded.jsonl"):
            continue
        doc = path.name[:3]
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                out.append((doc, line_no, json.loads(line)))
    return out


def cited_refs() -> set[str]:
    refs: set[str] = set()
    for path in RUBRIC.glob("*.json"):
        entry = json.loads(path.read_text(encoding="utf-8"))
        for kp in entry.get("key_points", []):
            refs.update(kp.get("from", []))
        refs.update(d["ref"] for d in entry.get("dropped", []))
    return refs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ids", nargs="*")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--uncovered", action="store_true")
    args = parser.parse_args()
    cited = cited_refs() if args.uncovered else set()
    for doc, line_no, item in curated_items():
        if not (args.all or args.uncovered or item["id"] in args.ids):
            continue
        refs = [(f"{doc}:L{line_no}:{k}", kp) for k, kp in enumerate(item.get("key_points", []))]
        if args.uncovered:
            refs = [(r, kp) for r, kp in refs if r not in cited]
            if not refs:
                continue
        merge_only = " (merge_only: answer lost)" if item.get("merge_only") else ""
        print(f"== {item['id']}  [{doc} {item['locator']}, line {line_no}]{merge_only}  "
              f"topic={item.get('topic')} difficulty={item.get('difficulty')}")
        print(f"   Q: {item['question']}")
        if item.get("reference_answer"):
            print(f"   reference: {item['reference_answer']}")
        for ref, kp in refs:
            print(f"   {ref}  {kp['text']}")
            print(f"   {' ' * len(ref)}  excerpt: {kp['excerpt']}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
