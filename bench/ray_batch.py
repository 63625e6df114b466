"""The Ray engine against the local one: answers/s, Ray's start-up, peak memory per actor.

    .venv/bin/python bench/ray_batch.py [--answers 20000]

Writes a synthetic answer file (bank key points, distractors, a few free-text questions; the same generator
as the batch tests), then runs, as a user would, one after the other on this machine:

    dlgrader batch answers.jsonl -o local.jsonl                                   (1 process, all cores)
    dlgrader batch answers.jsonl -o ray1.jsonl --engine ray --actors 1            (1 actor x all cores)
    dlgrader batch answers.jsonl -o ray2.jsonl --engine ray --actors 2            (2 actors x cores/2)

and checks the three outputs are identical. Answers/s is measured over the whole command (start-up
included) and over grading alone (what the engine prints); peak memory per actor is the largest resident
set of a process whose command line names the actor, sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
DLGRADER = ROOT / ".venv" / "bin" / "dlgrader"


def _rss_of_actors(stop: threading.Event, peak: dict[str, float]) -> None:
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                if "GraderActor" not in cmd and "MapWorker" not in cmd:
                    continue
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        peak[pid] = max(peak.get(pid, 0.0), int(line.split()[1]) / 1024)
            except OSError:
                continue
        stop.wait(0.2)


def run(name: str, args: list[str]) -> dict[str, object]:
    stop, peak = threading.Event(), {}  # type: ignore[var-annotated]
    watcher = threading.Thread(target=_rss_of_actors, args=(stop, peak), daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    done = subprocess.run([str(DLGRADER), "batch", *args, "--restart", "--no-progress"], capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    out: dict[str, object] = {"name": name, "wall_s": round(wall, 1)}
    for line in done.stderr.splitlines():
        if line.startswith("ray: started in"):
            parts = line.split()
            out["startup_s"], out["grading_s"] = float(parts[3]), float(parts[7])
    out["actor_peak_mb"] = round(max(peak.values()), 0) if peak else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=20_000)
    args = parser.parse_args()
    from test_batch import synthetic_answers

    with tempfile.TemporaryDirectory(prefix="dlgrader-ray-bench-") as tmp:
        work = Path(tmp)
        answers = work / "answers.jsonl"
        synthetic_answers(answers, args.answers)
        rows = [
            run("local engine", [str(answers), "-o", str(work / "local.jsonl")]),
            run("ray, 1 actor", [str(answers), "-o", str(work / "ray1.jsonl"), "--engine", "ray", "--actors", "1"]),
            run("ray, 2 actors", [str(answers), "-o", str(work / "ray2.jsonl"), "--engine", "ray", "--actors", "2"]),
        ]
        same = (work / "local.jsonl").read_bytes() == (work / "ray1.jsonl").read_bytes() \
            == (work / "ray2.jsonl").read_bytes()
    n = args.answers
    print(f"{n} answers, {os.cpu_count()} cores; outputs identical: {same}\n")
    print("| engine | wall s | answers/s (whole command) | Ray start-up s | answers/s (grading) | peak MB per actor |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        grading = r.get("grading_s")
        print(f"| {r['name']} | {r['wall_s']} | {n / float(r['wall_s']):.1f} | {r.get('startup_s', '-')} | "  # type: ignore[arg-type]
              f"{n / grading:.1f} | {r['actor_peak_mb'] or '-'} |" if grading else
              f"| {r['name']} | {r['wall_s']} | {n / float(r['wall_s']):.1f} | - | - | - |")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
