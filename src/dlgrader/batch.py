"""Batch grading of answer files: streaming, order-preserving, resumable, never aborted by a bad line.

Input is JSONL or CSV with (by default) ``id``, ``question`` or ``question_id``, ``answer`` and an optional
``label``; column names can be remapped. ``records`` reads it: a line that cannot be used (broken JSON, bytes
that are not UTF-8) becomes one ``invalid`` result with its line number, and the run goes on. Output is
JSONL, one result per input record, in input order.
Records are read, graded and written in chunks, so memory stays bounded whatever the file size (only the
ids of an output being resumed are held). Re-running with the same output resumes: ids already written are
skipped, and a half-written last line (a killed run) is cut off before anything is appended.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from dlgrader.errors import InputError
from dlgrader.models import GradeResult
from dlgrader.records import Columns, iter_records, passed_label, record_id
from dlgrader.service import Grader, GradeRequest

CHUNK = 256


@dataclass
class BatchStats:
    total: int = 0
    skipped: int = 0
    graded: int = 0
    unknown: int = 0
    invalid: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def count(self, result: GradeResult) -> None:
        self.count_status(result.status)

    def count_status(self, status: str) -> None:
        self.total += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        self.graded += status == "graded"
        self.unknown += status == "unknown_question"
        self.invalid += status == "invalid"


def to_request(number: int, record: dict[str, object] | str, columns: Columns) -> GradeRequest | GradeResult:
    """A GradeRequest, or an ``invalid`` result that says what is wrong with the line (``number`` 0: a
    record without a line, a Parquet row, named by its id)."""
    rid = record_id(number, record, columns)
    where = f"line {number}" if number > 0 else f"record {rid}"
    if isinstance(record, str):
        return GradeResult(status="invalid", id=rid, error=f"{where}: {record}")
    answer = record.get(columns.answer)
    label = passed_label(record.get(columns.label))
    if answer is None:
        return GradeResult(status="invalid", id=rid, label=label,
                           error=f"{where}: missing '{columns.answer}'")
    if not isinstance(answer, str):
        return GradeResult(status="invalid", id=rid, label=label,
                           error=f"{where}: '{columns.answer}' must be text")
    qid = record.get(columns.question_id)
    question = record.get(columns.question)
    if qid in (None, "") and question in (None, ""):
        return GradeResult(status="invalid", id=rid, label=label,
                           error=f"{where}: give '{columns.question_id}' or '{columns.question}'")
    return GradeRequest(answer=answer, question_id=str(qid) if qid not in (None, "") else None,
                        question=str(question) if question not in (None, "") else None, id=rid, label=label)


def cut_partial_line(path: Path) -> None:
    """Remove a trailing line without its newline (what a killed run can leave); reads only the tail."""
    with path.open("rb+") as fh:
        end = size = fh.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - 65536)
            fh.seek(start)
            data = fh.read(end - start)
            if end == size and data.endswith(b"\n"):
                return
            newline = data.rfind(b"\n")
            if newline >= 0:
                fh.truncate(start + newline + 1)
                return
            end = start
        fh.truncate(0)


def completed_ids(output: Path) -> Counter[str]:
    """How many times each id is already in an output file, read line by line (memory: the ids only).

    A trailing half-written line is cut off first, so what follows is appended to whole lines.
    """
    done: Counter[str] = Counter()
    if not output.exists():
        return done
    cut_partial_line(output)
    with output.open("rb") as fh:
        for line in fh:
            try:
                value = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(value, dict) and value.get("id") is not None:
                done[str(value["id"])] += 1
    return done


def run_batch(grader: Grader, input_path: Path, output: Path, *, columns: Columns | None = None,
              resume: bool = True, chunk: int = CHUNK,
              progress: Callable[[int], None] | None = None,
              on_result: Callable[[GradeResult], None] | None = None,
              on_chunk: Callable[[list[GradeResult], list[str]], None] | None = None,
              on_start: Callable[[int], None] | None = None) -> BatchStats:
    """Grade every record of ``input_path`` into ``output``; returns counts by status.

    Resuming skips, for each id, as many input records as the output already holds (so duplicate ids
    in the input are graded as often as they occur). ``on_start`` hears how many results were already
    there; ``progress`` hears how many records each written chunk held. ``on_chunk`` sees each chunk's
    graded results and their answers before they are written (LLM feedback attaches there);
    ``on_result`` sees each result after it is written.
    """
    columns = columns or Columns()
    if input_path.resolve() == output.resolve():
        raise InputError("the output file must differ from the input file")
    records = iter_records(input_path)  # opens the input now: an unreadable one fails before any output
    existed = output.exists()
    try:
        done = completed_ids(output) if resume else Counter()
        output.parent.mkdir(parents=True, exist_ok=True)
        out = output.open("a" if resume else "w", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror or exc}") from exc
    if on_start:
        on_start(sum(done.values()))
    stats = BatchStats(skipped=0)
    with out:
        pending: list[GradeRequest | GradeResult] = []

        def flush() -> None:
            requests = [p for p in pending if isinstance(p, GradeRequest)]
            chunk_results = _with_answers(grader.grade_many(requests), requests)
            if on_chunk:
                on_chunk(chunk_results, [r.answer for r in requests])
            graded = iter(chunk_results)
            results = [next(graded) if isinstance(item, GradeRequest) else item for item in pending]
            _write(out, output, results)
            for result in results:
                stats.count(result)
                if on_result:
                    on_result(result)
            if progress:
                progress(len(pending))
            pending.clear()

        try:
            for number, record in records:
                rid = record_id(number, record, columns)
                if done[rid] > 0:
                    done[rid] -= 1
                    stats.skipped += 1
                    continue
                pending.append(to_request(number, record, columns))
                if len(pending) >= chunk:
                    flush()
            if pending:
                flush()
        except BaseException:
            if not existed and out.tell() == 0:  # failed before its first result: leave no empty file
                out.close()
                output.unlink(missing_ok=True)
            raise
    return stats


def _with_answers(results: list[GradeResult], requests: list[GradeRequest]) -> list[GradeResult]:
    """Each result carries its answer for reports; the evidence spans index the cleaned text, so that is
    the text kept."""
    for result, request in zip(results, requests, strict=True):
        result.answer = request.cleaned().answer
    return results


def result_line(result: GradeResult) -> str:
    """A result as one line of a results file (the same bytes from either engine)."""
    return result.model_dump_json(exclude_none=True)


def _write(out: TextIO, output: Path, results: list[GradeResult]) -> None:
    write_lines(out, output, [result_line(r) for r in results])


def write_lines(out: TextIO, output: Path, lines: list[str]) -> None:
    """One write and one fsync per chunk: a killed run leaves whole lines plus at most one partial line,
    which the next run cuts off before appending."""
    try:
        out.write("".join(line + "\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror or exc} (the results before this chunk are "
                         "kept: rerun the same command to resume)") from exc
