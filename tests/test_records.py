"""Reading answer and result files: a bad line costs that line only; one label parser for every reader."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dlgrader.records import MISSING, iter_records, parse_label, passed_label, without_surrogates


def _jsonl(path: Path, records: list[dict[str, object]]) -> list[bytes]:
    lines = [json.dumps(r).encode() + b"\n" for r in records]
    path.write_bytes(b"".join(lines))
    return lines


def test_a_non_utf8_byte_costs_its_jsonl_line_only_with_the_right_line_number(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    lines = _jsonl(path, [{"id": f"r{i}", "answer": "text " * 40} for i in range(1, 3002)])
    # The text decoder reads ahead in blocks, so a bad byte used to surface lines early and end the file.
    lines[1500] = lines[1500].replace(b"text", b"t\xe9xt", 1)
    path.write_bytes(b"".join(lines))
    records = list(iter_records(path))
    assert [n for n, _ in records] == list(range(1, 3002))
    bad = [(n, r) for n, r in records if isinstance(r, str)]
    assert len(bad) == 1 and bad[0][0] == 1501 and "not UTF-8" in bad[0][1] and "0xe9" in bad[0][1]
    assert records[-1][1] == {"id": "r3001", "answer": "text " * 40}


def test_bad_json_blank_lines_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a"}\n\n{broken\n[1, 2]\n{"id": "\xff"}\n{"id": "e"}')
    records = list(iter_records(path))
    assert records[0] == (1, {"id": "a"})  # the BOM is not part of the first record
    assert [n for n, _ in records] == [1, 3, 4, 5, 6]
    assert "invalid JSON" in str(records[1][1]) and "JSON object" in str(records[2][1])
    assert "not UTF-8" in str(records[3][1]) and records[4] == (6, {"id": "e"})


def test_lone_surrogates_from_json_escapes_become_replacement_characters(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    # json.dumps writes "\ud800" as the six-character escape: valid JSON that decodes to no character.
    path.write_text(json.dumps({"id": "x\ud800", "answer": "a\udfff b", "more": {"\udc80": ["\ud83d"]}}) + "\n"
                    + json.dumps({"id": "pair", "answer": "\U0001f600"}) + "\n")
    (_, first), (_, second) = iter_records(path)
    assert first == {"id": "x\ufffd", "answer": "a\ufffd b", "more": {"\ufffd": ["\ufffd"]}}
    assert second == {"id": "pair", "answer": "\U0001f600"}  # a real surrogate pair is a character
    assert json.dumps(first, ensure_ascii=False).encode("utf-8")  # nothing left that UTF-8 cannot hold
    assert without_surrogates("ok \udcff") == "ok \ufffd"


def test_a_bad_csv_line_costs_its_record_only(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"\xef\xbb\xbfid,answer,label\n"
                     b'1,"two\nlines",3\n'        # lines 2-3
                     b"2,caf\xe9,4\n"             # line 4: Latin-1, not UTF-8
                     b"\n"                        # line 5: blank, no record
                     b'3,"bad \xff\nacross lines",5\n'  # lines 6-7
                     b'4,"' + b"x" * 140_000 + b'",1\n'  # line 8: past the csv field limit
                     b"5,short\n"                 # line 9: missing trailing field
                     b"6,extra,1,2\n")            # line 10: an extra field is dropped
    records = list(iter_records(path))
    assert [n for n, _ in records] == [2, 4, 6, 8, 9, 10]
    assert records[0][1] == {"id": "1", "answer": "two\nlines", "label": "3"}  # BOM gone from "id"
    assert "not UTF-8" in str(records[1][1]) and "not UTF-8" in str(records[2][1])
    assert "unreadable CSV" in str(records[3][1])
    assert records[4][1] == {"id": "5", "answer": "short", "label": None}
    assert records[5][1] == {"id": "6", "answer": "extra", "label": "1"}


def test_tsv_and_an_unreadable_file(tmp_path: Path) -> None:
    from dlgrader.errors import InputError

    path = tmp_path / "a.tsv"
    path.write_text("id\tanswer\nq1\tsome, text\n")
    assert list(iter_records(path)) == [(2, {"id": "q1", "answer": "some, text"})]
    with pytest.raises(InputError, match="cannot open"):
        iter_records(tmp_path / "missing.jsonl")  # at once, not on the first line read


@pytest.mark.parametrize(("value", "parsed"), [
    (4, 4.0), (2.5, 2.5), ("3", 3.0), (" 4.5 ", 4.5), ("-1", -1.0),
    (None, "no label"), (MISSING, "no label"), ("", "no label"), ("  ", "no label"),
    ("good", "label 'good' is not a number"), (True, "label True is not a number"),
    (math.nan, "label 'nan' is not a finite number"), ("inf", "label 'inf' is not a finite number"),
    ([1], "label '[1]' is not a finite number"),
])
def test_one_label_parser(value: object, parsed: object) -> None:
    assert parse_label(value) == parsed


@pytest.mark.parametrize(("value", "passed"), [
    (4, 4.0), ("3", 3.0), (None, None), ("", None), (MISSING, None),
    ("excellent", "excellent"), (True, "true"), (math.nan, "NaN"), ("inf", "inf"),
])
def test_batch_passes_unusable_labels_through_as_text_for_the_report_to_explain(value: object,
                                                                               passed: object) -> None:
    # Before, batch turned true into 1.0 and NaN into a number that JSON writes as null: the report then
    # counted a label that was never given, or silently lost one that was.
    assert passed_label(value) == passed
    if isinstance(passed, str):
        assert isinstance(parse_label(passed), str)  # and the report then says why it is unusable
