"""Without ../shared, the tests that need it skip with one summary line, not one each.

Every skip whose reason names the missing folder (or ONNX2LWTNN_SHARED) is given one
place and one reason, so pytest's ``-ra`` summary folds them into a single
``SKIPPED [N]`` line. Other skips keep their own lines.
"""
from __future__ import annotations

import os

import pytest

from .support import REPO, shared_dir

SHARED = os.environ.get("ONNX2LWTNN_SHARED", str(REPO.parent / "shared"))
ABSENT = (__file__, 1, f"shared material is absent ({SHARED}): the lwtnn conformance set "
                       "and the real models are not tested; set ONNX2LWTNN_SHARED to their "
                       "folder to run these tests")


def _fold(report) -> None:
    if (report.skipped and shared_dir() is None and isinstance(report.longrepr, tuple)
            and ("ONNX2LWTNN_SHARED" in report.longrepr[2] or SHARED in report.longrepr[2])):
        report.longrepr = ABSENT


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fold(outcome.get_result())


def pytest_collectreport(report):
    """Modules that skip as a whole (at import) when the folder is absent."""
    _fold(report)
