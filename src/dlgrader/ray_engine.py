"""``dlgrader batch --engine ray``: the same batch, graded by a pool of Ray actors (Ray Data ``map_batches``).

Each actor holds one ``Grader`` (model, index, verifier when on), loaded once. Ray Data streams the input
through them with back-pressure and, with ``preserve_order``, hands the results back in input order; the
driver writes them exactly as the local engine does (``batch._write``: one write and one fsync per chunk),
so a results file from either engine resumes with either.

- JSONL and CSV are read as bytes (``read_binary_files``) and split into records by the local engine's own
  parser (``records``), in one task per file: a bad line is one ``invalid`` result with its line number,
  and the ids already written are skipped there exactly as the local engine skips them (duplicates counted).
- Parquet (a file or a folder of parts, any filesystem Ray reads) needs an ``id`` column: it is how a rerun
  knows what is done (an id already written is skipped).
- Output: a JSONL file, or, when OUTPUT ends in ``.parquet``, a folder of Parquet parts written one per
  chunk (temporary file, then rename), each row with its ``position`` in the input, the main fields and the
  whole result as JSON.
- Without ``--address`` a local Ray instance is started, sized to the machine; with one, the driver joins
  that cluster. Workers must see the bank, the index folder and the model at the same paths (a shared
  filesystem or the same image); an actor that finds no current index builds one.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dlgrader.batch import BatchStats, _with_answers, completed_ids, result_line, to_request, write_lines
from dlgrader.config import Settings
from dlgrader.errors import InputError
from dlgrader.records import Columns, _csv_records, _jsonl_records, _lines_of, record_id

DEFAULT_BATCH_SIZE = 64
CHUNK = 256  # results per write (and per Parquet part)
TARGET_BLOCK_BYTES = 128 * 1024  # a few hundred answers
READ_CPUS = 0.25  # what a read task reserves, so that reading never waits for a CPU the actors hold

log = logging.getLogger(__name__)


def ray_missing_message() -> str:
    return ("the Ray engine needs Ray, which is not installed: pip install 'dlgrader[ray]' "
            "(or use --engine local)")


def _import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise InputError(ray_missing_message()) from exc
    return ray


# ---------------------------------------------------------------- reading


def _is_parquet(path: str) -> bool:
    return path.rstrip("/").lower().endswith(".parquet") or (os.path.isdir(path) and any(
        name.endswith(".parquet") for name in os.listdir(path)))


def _file_records(data: bytes, name: str, columns: Columns, done: Counter[str]) -> Iterator[dict[str, Any]]:
    """The records of one JSONL/CSV file as rows (line, JSON text or the reason it is unreadable), less
    those already in the output."""
    lines = _lines_of(io.BytesIO(data))
    suffix = Path(name).suffix.lower()
    records = _csv_records(lines, delimiter="\t" if suffix == ".tsv" else ",") if suffix in (".csv", ".tsv") \
        else _jsonl_records(lines)
    for number, record in records:
        rid = record_id(number, record, columns)
        if done[rid] > 0:
            done[rid] -= 1
            continue
        yield {"line": number, "record": json.dumps(record) if isinstance(record, dict) else "",
               "error": record if isinstance(record, str) else ""}


def _parquet_rows(batch: Any, columns: Columns, done: frozenset[str]) -> Any:
    """A Parquet batch (pandas) as rows of the same shape as ``_file_records`` gives."""
    import pandas as pd

    out = []
    for record in batch.to_dict(orient="records"):
        clean = {k: (None if _is_missing(v) else v) for k, v in record.items()}
        if str(clean.get(columns.id)) in done:
            continue
        out.append({"line": 0, "record": json.dumps(clean, default=str), "error": ""})
    return pd.DataFrame(out, columns=["line", "record", "error"])


def _is_missing(value: object) -> bool:
    try:
        return bool(value != value) or value is None  # NaN is the only value unequal to itself
    except (TypeError, ValueError):
        return False


def _dataset(ray: Any, input_path: str, columns: Columns, done: Counter[str]) -> Any:
    if _is_parquet(input_path):
        frozen = frozenset(done)
        table = ray.data.read_parquet(input_path, num_cpus=READ_CPUS)
        if columns.id not in table.schema().names:  # checked here: raised in a task it would be a traceback
            raise InputError(f"Parquet input needs an '{columns.id}' column: ids are how a rerun knows what "
                             "is done")
        return table.map_batches(
            _parquet_rows, fn_kwargs={"columns": columns, "done": frozen}, batch_format="pandas",
            num_cpus=READ_CPUS)

    def split(row: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield from _file_records(row["bytes"], row["path"], columns, Counter(done))

    return ray.data.read_binary_files(input_path, include_paths=True, num_cpus=READ_CPUS) \
        .flat_map(split, num_cpus=READ_CPUS)


# ---------------------------------------------------------------- the actors


def grader_actor(settings: Settings, columns: Columns) -> type:
    """The actor class, with its settings in the class itself: an actor built from arguments held in the
    object store could not be rebuilt once the driver that put them there is gone."""

    class GraderActor:
        """One Grader per actor, loaded once; grades a batch of rows into result lines."""

        def __init__(self) -> None:
            from dlgrader.service import Grader

            self.grader = Grader.from_settings(settings)

        def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
            from dlgrader.service import GradeRequest

            items = []
            for line, text, error in zip(batch["line"], batch["record"], batch["error"], strict=True):
                record: dict[str, object] | str = str(error) if error else json.loads(str(text))
                items.append(to_request(int(line), record, columns))
            requests = [item for item in items if isinstance(item, GradeRequest)]
            graded = iter(_with_answers(self.grader.grade_many(requests), requests))
            results = [next(graded) if isinstance(item, GradeRequest) else item for item in items]
            # The driver writes these lines as they are and reads only the plain columns: it never parses
            # a result again (on a small machine it shares the cores with the actors).
            return {"result": [result_line(r) for r in results], "id": [r.id for r in results],
                    "status": [r.status for r in results], "question_id": [r.question_id for r in results],
                    "score": [r.score for r in results], "grade": [r.grade for r in results]}

    return GraderActor


# ---------------------------------------------------------------- writing


class _ParquetParts:
    """A folder of Parquet parts, one per chunk, each written to a temporary name and then renamed."""

    def __init__(self, folder: Path, resume: bool) -> None:
        self.folder = folder
        if folder.exists() and not folder.is_dir():
            raise InputError(f"{folder} exists and is not a folder of Parquet parts")
        folder.mkdir(parents=True, exist_ok=True)
        if not resume:
            for part in folder.glob("part-*.parquet"):
                part.unlink()
        self.parts = sorted(folder.glob("part-*.parquet"))
        for stale in folder.glob(".part-*.tmp"):  # a killed run's unfinished part
            stale.unlink()

    def done(self) -> tuple[Counter[str], int]:
        import pyarrow.parquet as pq

        ids: Counter[str] = Counter()
        rows = 0
        for part in self.parts:
            table = pq.read_table(part, columns=["id"])
            ids.update(str(v) for v in table.column("id").to_pylist())
            rows += table.num_rows
        return ids, rows

    def write(self, rows: _Rows, first_position: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"position": [first_position + i for i in range(len(rows.result))], "id": rows.id,
                          "status": rows.status, "question_id": rows.question_id, "score": rows.score,
                          "grade": rows.grade, "result": rows.result})
        name = f"part-{len(self.parts):06d}.parquet"
        tmp = self.folder / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.folder / name)
        self.parts.append(self.folder / name)


# ---------------------------------------------------------------- the run


def start_ray(address: str | None, cpus: int) -> Any:
    ray = _import_ray()
    if not ray.is_initialized():
        quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        if address:
            ray.init(address=address, **quiet)
        else:
            # One logical CPU more than the machine: the read tasks' small reservations must never wait for
            # the CPUs the actors hold.
            ray.init(num_cpus=cpus + 1, **quiet)
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # the CLI reports progress and the outcome itself
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # results come back in input order
    context.enable_progress_bars = False  # the CLI shows its own
    # Small blocks keep the stream moving: an actor hands its results on block by block, so with Ray's
    # default (128 MB, a whole file of answers) nothing would be written, or shown, until the end.
    context.target_max_block_size = TARGET_BLOCK_BYTES
    return ray


def run_batch_ray(settings: Settings, input_path: str, output: Path, *, columns: Columns | None = None,
                  resume: bool = True, address: str | None = None, actors: int | None = None,
                  batch_size: int = DEFAULT_BATCH_SIZE, progress: Callable[[int], None] | None = None,
                  on_start: Callable[[int], None] | None = None) -> tuple[BatchStats, dict[str, float]]:
    """Grade ``input_path`` into ``output`` on Ray; returns the counts and timings (start-up, grading)."""
    columns = columns or Columns()
    if not _is_parquet(input_path) and not Path(input_path).is_file() and "://" not in input_path:
        raise InputError(f"cannot open {input_path}: no such file")
    if Path(input_path).resolve() == output.resolve():
        raise InputError("the output file must differ from the input file")
    parquet_out = output.suffix.lower() == ".parquet"
    parts = _ParquetParts(output, resume) if parquet_out else None
    if parts is not None:
        done, position = parts.done()
    else:
        done = completed_ids(output) if resume else Counter()
        position = sum(done.values())
    if on_start:
        on_start(position)
    cpus = os.cpu_count() or 1
    n_actors = max(1, actors or 1)
    threads = max(1, cpus // n_actors)
    started = time.perf_counter()
    ray = start_ray(address, cpus)
    startup = time.perf_counter() - started
    actor_settings = settings.model_copy(update={"threads": threads})
    _ensure_index(actor_settings)
    graded = _dataset(ray, input_path, columns, done).map_batches(
        grader_actor(actor_settings, columns), concurrency=n_actors, num_cpus=threads, batch_size=batch_size,
        batch_format="numpy")
    stats = BatchStats(skipped=position)
    t0 = time.perf_counter()
    writer = _JsonlWriter(output, resume) if parts is None else None
    try:
        pending = _Rows()

        def flush() -> None:
            nonlocal position
            if parts is not None:
                parts.write(pending, position)
            else:
                assert writer is not None
                writer.write(pending.result)
            for status in pending.status:
                stats.count_status(status)
            position += len(pending.result)
            if progress:
                progress(len(pending.result))
            pending.clear()

        for batch in graded.iter_batches(batch_size=CHUNK, batch_format="numpy"):
            pending.extend(batch)
            if len(pending.result) >= CHUNK:
                flush()
        if pending.result:
            flush()
    finally:
        if writer is not None:
            writer.close()
    return stats, {"startup_s": startup, "grading_s": time.perf_counter() - t0}


def _ensure_index(settings: Settings) -> None:
    """Build a stale index once, here, before the actors start (else each would build its own)."""
    from dlgrader.corpus.loader import load_bank
    from dlgrader.embedding import load_embedder
    from dlgrader.index import load_or_build, stale_reason

    bank = load_bank(settings.corpus)
    embedder = load_embedder(model=settings.model, backend=settings.backend, threads=settings.threads)
    if stale_reason(settings.resolved_index_dir(), bank, embedder) is not None:
        load_or_build(bank, embedder, settings.resolved_index_dir())


class _Rows:
    """Results as the actors return them: the JSON lines, and the plain fields a Parquet part keeps."""

    FIELDS = ("result", "id", "status", "question_id", "score", "grade")

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.result: list[str] = []
        self.id: list[str | None] = []
        self.status: list[str] = []
        self.question_id: list[str | None] = []
        self.score: list[float | None] = []
        self.grade: list[float | None] = []

    def extend(self, batch: dict[str, Any]) -> None:
        for name in self.FIELDS:
            getattr(self, name).extend(_plain(v) for v in batch[name])


def _plain(value: Any) -> Any:
    """numpy scalars and NaN (a missing score in a float column) as plain Python values."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and value != value else value


class _JsonlWriter:
    def __init__(self, output: Path, resume: bool) -> None:
        self.output = output
        try:
            output.parent.mkdir(parents=True, exist_ok=True)  # completed_ids cut a half-written last line
            self.handle = output.open("a" if resume else "w", encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc.strerror or exc}") from exc

    def write(self, lines: list[str]) -> None:
        write_lines(self.handle, self.output, lines)

    def close(self) -> None:
        self.handle.close()
