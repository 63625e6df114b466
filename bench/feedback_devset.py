"""LLM feedback on a graded dev set: how often it is available, what verification removes, what it costs.

By default it starts llama.cpp's server with SmolLM2-135M-Instruct on loopback (see tests/llama_server.py)
and runs every answer of bench/devset/tune.jsonl through `Grader.add_feedback` with a fresh cache. Point it
at any other OpenAI-compatible endpoint with --base-url/--model (and DLGRADER_LLM_API_KEY in the env).

    .venv/bin/python bench/feedback_devset.py [--limit 40] [--questions softmax,l2_regularization]
    .venv/bin/python bench/feedback_devset.py --base-url http://127.0.0.1:8001/v1 --model qwen2.5-7b \\
        --json-mode json_schema --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # llama_server: the same launcher the integration test uses


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devset", type=Path, default=ROOT / "bench" / "devset" / "tune.jsonl")
    p.add_argument("--limit", type=int, default=0, help="Only the first N rows (0 = all).")
    p.add_argument("--questions", help="Only rows of these question ids (comma-separated).")
    p.add_argument("--base-url", help="Use this endpoint instead of starting the small local model.")
    p.add_argument("--model", default=None)
    p.add_argument("--json-mode", default="json_object_schema")
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--price-in", type=float, default=0.15,
                   help="US$ per million prompt tokens (for the cost line).")
    p.add_argument("--price-out", type=float, default=0.60, help="US$ per million completion tokens.")
    p.add_argument("--json-out", type=Path, help="Also write the numbers as JSON here.")
    return p.parse_args()


def configure(args: argparse.Namespace, base_url: str, model: str) -> None:
    os.environ.update({
        "DLGRADER_LLM_BASE_URL": base_url, "DLGRADER_LLM_MODEL": model,
        "DLGRADER_LLM_JSON_MODE": args.json_mode,
        "DLGRADER_LLM_MAX_RETRIES": "0" if not args.base_url else "2",
        "DLGRADER_LLM_TIMEOUT": str(args.timeout),
        "DLGRADER_LLM_CONCURRENCY": str(args.concurrency),
        "DLGRADER_DATA_DIR": tempfile.mkdtemp(prefix="dlgrader-feedback-bench-"),  # a cold cache
    })
    from dlgrader.config import get_settings

    get_settings.cache_clear()


def run(args: argparse.Namespace) -> dict[str, object]:
    from scipy.stats import spearmanr

    from dlgrader.service import GradeRequest, default_grader

    rows = [json.loads(line) for line in args.devset.read_text().splitlines() if line.strip()]
    if args.questions:
        wanted = set(args.questions.split(","))
        rows = [r for r in rows if r["question_id"] in wanted]
    rows = rows[: args.limit] if args.limit else rows
    grader = default_grader()
    requests = [GradeRequest(r["answer"], question_id=r["question_id"], id=r["id"]) for r in rows]
    results = grader.grade_many(requests)
    started = time.perf_counter()
    grader.add_feedback(results, [r["answer"] for r in rows])
    if grader.feedback is None:
        raise SystemExit(f"no feedback: {grader.feedback_off_reason}")
    usage = grader.feedback.usage
    elapsed = time.perf_counter() - started
    reasons: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    check: Counter[str] = Counter()
    prompt_tokens, completion_tokens, pairs = [], [], []
    repaired = 0
    for row, result in zip(rows, results, strict=True):
        fb = result.feedback.model_dump() if result.feedback else {}
        call = fb.get("usage") or {}
        if call.get("requests"):
            prompt_tokens.append(call["prompt_tokens"])
            completion_tokens.append(call["completion_tokens"])
        if not fb.get("available"):
            reason = str(fb.get("reason", "not graded"))
            reasons["invalid output" if "stayed invalid" in reason else reason.split(":")[0][:60]] += 1
            continue
        repaired += fb["attempts"] > 1
        statuses.update(c["status"] for c in fb["key_points"])
        check.update({k: v for k, v in fb["verification"].items() if isinstance(v, int)})
        pairs.append((row["target"], result.score, fb["score"]))
    available = len(pairs)
    calls = len(prompt_tokens)
    mean_in = statistics.mean(prompt_tokens) if prompt_tokens else 0.0
    mean_out = statistics.mean(completion_tokens) if completion_tokens else 0.0
    out: dict[str, object] = {
        "rows": len(rows), "with_feedback": available, "without_feedback": dict(reasons),
        "repaired_after_invalid_output": repaired, "key_point_labels": dict(statuses),
        "verification": dict(check), "calls_with_tokens": calls, "requests": usage.requests,
        "prompt_tokens": {"total": usage.prompt_tokens, "mean_per_answer": round(mean_in, 1)},
        "completion_tokens": {"total": usage.completion_tokens, "mean_per_answer": round(mean_out, 1)},
        "seconds": round(elapsed, 1), "seconds_per_answer": round(elapsed / max(1, len(rows)), 2),
        "cost_per_1000_answers_usd": round(
            1000 * (mean_in * args.price_in + mean_out * args.price_out) / 1e6, 4),
        "prices_per_mtok": [args.price_in, args.price_out],
    }
    if len(pairs) >= 5:
        targets, engine, judged = zip(*pairs, strict=True)
        out["spearman_engine"] = round(float(spearmanr(targets, engine).statistic), 4)
        out["spearman_with_judge"] = round(float(spearmanr(targets, judged).statistic), 4)
        changes = [abs(a - b) for a, b in zip(engine, judged, strict=True)]
        out["mean_abs_score_change"] = round(statistics.mean(changes), 2)
    return out


def main() -> None:
    args = parse_args()
    if args.base_url:
        configure(args, args.base_url, args.model or "")
        report = run(args)
    else:
        from llama_server import MODEL_ALIAS, LlamaServer

        with LlamaServer() as server:
            configure(args, server.url, MODEL_ALIAS)
            report = run(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n")


if __name__ == "__main__":
    main()
