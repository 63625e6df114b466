"""Property-based fuzzing of the served OpenAPI schema with schemathesis: whatever the input, no 5xx, and
every response (errors included) matches the documented status codes, media types and schemas.

Bounded: a fixed number of examples per operation, derandomised so CI runs are reproducible; loopback only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apiserver import Server, running

pytestmark = pytest.mark.slow

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
# Input the schema forbids (``"feedback": 0``, a number as a string) must be refused, except inside a batch:
# there a bad item is by design one `invalid` result of a 200, so the others are still graded.
REFUSES_INVALID_INPUT = [negative_data_rejection]
LENIENT = {("POST", "/v1/grade/batch")}
EXAMPLES_PER_OPERATION = 30


@pytest.fixture(scope="module")
def fuzz_server(grader, session_index_dir: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Server]:
    # small limits keep each generated request quick; no rate limit, so every request reaches the app
    with running({"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_RATE_LIMIT_PER_MINUTE": "0",
                  "DLGRADER_MAX_ANSWER_CHARS": "2000", "DLGRADER_MAX_BATCH_ITEMS": "5"},
                 workdir=tmp_path_factory.mktemp("fuzz-server")) as server:
        yield server


OPERATIONS = [
    ("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/v1/grade"), ("POST", "/v1/grade/batch"),
    ("GET", "/v1/questions"), ("GET", "/v1/questions/random"), ("GET", "/v1/questions/{question_id}"),
    ("GET", "/v1/topics"), ("GET", "/v1/practice/next"), ("POST", "/v1/practice/answers"),
    ("POST", "/v1/practice/attempts/{attempt_id}/rating"), ("POST", "/v1/practice/reveal"), ("GET", "/v1/progress"),
]


@pytest.fixture(scope="module")
def api_schema(fuzz_server: Server):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")


def test_every_operation_is_fuzzed(api_schema) -> None:  # type: ignore[no-untyped-def]
    served = sorted((op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations())
    assert served == sorted(OPERATIONS)


# Operations without parameters or body have no invalid input to generate.
NO_INPUT = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/v1/topics")}
CASES = [(*op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (*op, GenerationMode.NEGATIVE) for op in OPERATIONS if op not in NO_INPUT]


# schemathesis.pytest.from_fixture does not work with pytest 9 (it sets Function._nodeid, which pytest 9
# dropped), so each operation's strategy is driven by Hypothesis directly.
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_errors_and_conformant_responses(api_schema, method: str, path: str,  # type: ignore[no-untyped-def]
                                                   mode: GenerationMode) -> None:
    operation = api_schema[path][method]
    checks = CHECKS if (method, path) in LENIENT else CHECKS + REFUSES_INVALID_INPUT

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case) -> None:  # type: ignore[no-untyped-def]
        case.call_and_validate(checks=checks, timeout=60)

    check()
