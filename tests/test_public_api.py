"""The package's public surface: what ``__all__`` names exists, and importing it loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import dlgrader


def test_every_public_name_resolves() -> None:
    for name in dlgrader.__all__:
        assert getattr(dlgrader, name) is not None, name


def test_the_documented_example_names_exist() -> None:
    from dlgrader import Grader, GradeRequest, get_settings  # noqa: F401

    assert set(dlgrader.__all__) >= {"Grader", "GradeRequest", "GradeResult", "Settings", "DlgraderError"}


def test_importing_the_package_loads_no_numerical_library() -> None:
    code = "import sys, dlgrader; print(sorted(m for m in ('numpy', 'faiss', 'onnxruntime') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
