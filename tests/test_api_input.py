"""Hostile and odd input over real HTTP: lax type coercions, lone surrogates, JSON and media-type errors, and
the OpenAPI document describing every error status the service can answer with.

Uses its own open server (no keys, no rate limit), started like ``test_api``'s.
"""

from __future__ import annotations

import json

import httpx
import pytest

from test_api import GOOD_ANSWER, api, error_of, open_server  # noqa: F401 - fixtures used below

pytestmark = pytest.mark.slow

JSON = {"Content-Type": "application/json"}


def post_json(client: httpx.Client, path: str, body: object) -> httpx.Response:
    """POST ``body`` as JSON with every non-ASCII character escaped, so lone surrogates travel as the JSON
    escape ``\\ud800`` (httpx's own ``json=`` cannot encode them)."""
    return client.post(path, content=json.dumps(body).encode("ascii"), headers=JSON)


# ---------------------------------------------------------------- strict request types


def test_booleans_and_ids_are_not_coerced(api: httpx.Client) -> None:  # noqa: F811
    for lax in (0, 1, "true", "yes", "on", None):
        error = error_of(post_json(api, "/v1/grade", {"question_id": "relu", "answer": "ReLU.", "feedback": lax}),
                         422, "validation_error")
        assert error["details"]["errors"][0]["field"] == "body.feedback", lax
    error_of(post_json(api, "/v1/grade/batch", {"items": [{"question_id": "relu", "answer": "ReLU."}],
                                                "feedback": 0}), 422, "validation_error")
    assert post_json(api, "/v1/grade", {"question_id": "relu", "answer": "ReLU.", "feedback": False}
                     ).status_code == 200
    items = [{"id": True, "question_id": "relu", "answer": "ReLU."},
             {"id": 1.0, "question_id": "relu", "answer": "ReLU."},
             {"id": "ok", "question_id": "relu", "answer": "ReLU.", "label": True},
             {"id": 3, "question_id": "relu", "answer": "ReLU.", "label": "3"}]
    body = post_json(api, "/v1/grade/batch", {"items": items}).json()
    assert [r["status"] for r in body["results"]] == ["invalid", "invalid", "invalid", "graded"]
    assert body["results"][0]["id"] is None and body["results"][2]["id"] == "ok"
    assert body["results"][3]["label"] == "3"  # a label may be text: kept as sent, not made a number


# ---------------------------------------------------------------- lone surrogates never answer 500


def test_lone_surrogate_in_an_answer_is_graded(api: httpx.Client) -> None:  # noqa: F811
    response = post_json(api, "/v1/grade", {"question_id": "dropout", "answer": GOOD_ANSWER + " \ud800"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "graded" and response.json()["score"] > 0
    alone = post_json(api, "/v1/grade", {"question_id": "dropout", "answer": "\ud800"})
    assert alone.status_code == 200 and alone.json()["status"] == "graded"
    by_text = post_json(api, "/v1/grade", {"question": "What is dropout?\udc00", "answer": GOOD_ANSWER})
    assert by_text.status_code == 200 and by_text.json()["status"] in ("graded", "unknown_question")


def test_lone_surrogate_in_a_batch_fails_no_other_item(api: httpx.Client) -> None:  # noqa: F811
    items = [{"id": "good-1", "question_id": "dropout", "answer": GOOD_ANSWER},
             {"id": "bad-\ud800", "question_id": "dropout", "answer": "Dropout \ud800 drops units."},
             {"id": "\udfff", "question_id": "relu", "answer": 5},
             {"id": "good-2", "question_id": "relu", "answer": "ReLU returns max(0, x)."}]
    response = post_json(api, "/v1/grade/batch", {"items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["graded", "graded", "invalid", "graded"]
    assert [r["id"] for r in results] == ["good-1", "bad-\ufffd", "\ufffd", "good-2"]


def test_lone_surrogates_in_ids_fields_and_urls_get_clean_answers(api: httpx.Client) -> None:  # noqa: F811
    unknown = post_json(api, "/v1/grade", {"question_id": "dropout\ud800", "answer": "x"})
    assert unknown.status_code == 200 and unknown.json()["status"] == "unknown_question"
    extra = error_of(post_json(api, "/v1/grade", {"question_id": "relu", "answer": "x", "b\ud800d": 1}), 422)
    assert "b\ufffdd" in json.dumps(extra, ensure_ascii=False)
    too_long = error_of(post_json(api, "/v1/grade", {"question_id": "\ud800" * 201, "answer": "x"}), 422)
    assert too_long["details"]["errors"][0]["field"] == "body.question_id"
    # a URL carries a surrogate only as invalid UTF-8 (%ED%A0%80): searched for, or not found, cleanly
    search = api.get("/v1/questions?q=%ED%A0%80")
    assert search.status_code == 200 and search.json()["total"] == 0
    error_of(api.get("/v1/questions/%ED%A0%80dropout"), 404, "question_not_found")
    error_of(api.get("/v1/questions?topic=%ED%A0%80"), 422)


def test_headers_with_odd_bytes_get_clean_answers(api: httpx.Client) -> None:  # noqa: F811
    odd = api.get("/healthz", headers={"X-Request-ID": b"caf\xe9\xed\xa0\x80"})
    assert odd.status_code == 200 and len(odd.headers["x-request-id"]) == 32
    error_of(api.post("/v1/grade", content=b'{"answer": "x"}', headers={"Content-Type": b"app\xe9/json"}), 415)


# ---------------------------------------------------------------- JSON and media types


def test_invalid_json_messages_read_well(api: httpx.Client) -> None:  # noqa: F811
    for raw in (b'{"question_id": "relu", "answer": "unterminated', b'{"answer": "tab\there"}',
                b'{"question_id": "dropout"', b"[", b'{"a": tru}'):
        error = error_of(api.post("/v1/grade", content=raw, headers=JSON), 400, "invalid_json")
        assert " at at " not in error["message"] and "at character" in error["message"], error["message"]
    error = error_of(api.post("/v1/grade", content=b'{"answer": "unterminated', headers=JSON), 400)
    assert error["message"] == ("The request body is not valid JSON (Unterminated string starting at "
                                "character 11).")


def test_json_suffix_types_fastapi_does_not_read_are_refused(api: httpx.Client) -> None:  # noqa: F811
    body = json.dumps({"question_id": "relu", "answer": "ReLU."}).encode()
    for content_type in ("text/plain+json", "foo+json", "multipart/form-data+json"):
        error_of(api.post("/v1/grade", content=body, headers={"Content-Type": content_type}), 415,
                 "unsupported_media_type")
    for content_type in ("application/json", "application/problem+json", "application/json; charset=utf-8",
                         "Application/JSON"):
        assert api.post("/v1/grade", content=body, headers={"Content-Type": content_type}).status_code == 200


# ---------------------------------------------------------------- the OpenAPI document


def test_openapi_describes_every_error_status_in_the_one_shape(api: httpx.Client) -> None:  # noqa: F811
    spec = api.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            expected = set()
            if path.startswith("/v1/"):
                expected |= {"401", "422", "429", "503"}
            if "requestBody" in operation:
                expected |= {"400", "413", "415"}
            if path.startswith("/v1/questions/"):
                expected |= {"404"}
            assert expected <= statuses, (method, path, expected - statuses)
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)
            if "429" in statuses:
                assert "Retry-After" in operation["responses"]["429"]["headers"]
    feedback = spec["components"]["schemas"]["GradeIn"]["properties"]["feedback"]
    assert feedback["type"] == "boolean"
