"""The one test-file rule (index/paths.py), the cases where the three former rules disagreed, and its globs."""
from __future__ import annotations

import fnmatch
import itertools

import pytest

from codehunt.index.paths import TEST_PATH_GLOBS, is_test_path


@pytest.mark.parametrize(
    "path, expected",
    [
        # what localize and mining pinned before
        ("pkg/tests/test_a.py", True), ("conftest.py", True), ("a_test.py", True), ("tests/test_geometry.py", True),
        ("pkg/geometry_test.py", True), ("src/_pytest/python.py", False), ("xarray/testing.py", False),
        ("pkg/contest.py", False), ("pkg/geometry.py", False),
        # where the old localize rule (case-sensitive, .py only, three directory names) said no
        ("Tests/helpers.py", True), ("pkg/specs/model.py", True), ("web/__tests__/app.js", True), ("lib/unit_tests/x.py", True),
        ("cart_test.go", True), ("lib/cart_spec.rb", True), ("pkg/test.py", True), ("Test_Cart.py", True),
        # where the old index globs (``test_*.py`` also matches a directory) said yes
        ("test_data/loader.py", False), ("pkg/test_utils/helpers.py", False),
        # directories and names that only look like tests
        ("attestation/models.py", False), ("pkg/testing_utils.py", False), ("latest/x.py", False), ("protest.py", False),
    ],
)
def test_is_test_path(path: str, expected: bool) -> None:
    assert is_test_path(path) is expected


def test_the_globs_match_only_test_paths_and_most_of_them() -> None:
    names = ["test", "tests", "Tests", "testing", "spec", "test_data", "src", "unit_tests", "__tests__", "contest",
             "test.d", "x_test.py", "test_x.py", "x_spec.rb", "conftest.py", "tests.py", "test.py", "a.py", "b_test.go",
             "T_TEST.py", "testing.py"]
    matched = tests = 0
    for depth in range(1, 4):
        for parts in itertools.product(names, repeat=depth):
            path = "/".join(parts)
            if any(fnmatch.fnmatch(path, pattern) for pattern in TEST_PATH_GLOBS):
                matched += 1
                assert is_test_path(path), path
            tests += is_test_path(path)
    assert (matched, tests) == (6108, 8246)  # of 9723 paths: the rest of the tests need is_test_path (test_x.py, Tests/)
    assert fnmatch.fnmatch("a/tests/b.py", "*/tests/*") and "*/tests/*" in TEST_PATH_GLOBS
