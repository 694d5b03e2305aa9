"""Unified diff parsing and applying: hand-written diffs, real ``git diff`` output, real SWE-bench patches."""
from __future__ import annotations

import json

import pytest

from codehunt.mining.diffs import PatchError, apply_file_diff, parse_unified_diff
from tests.conftest import shared_data_dir

HAND_DIFF = """\
commit message lines are ignored
diff --git a/src/a.py b/src/a.py
index 1111111..2222222 100644
--- a/src/a.py
+++ b/src/a.py
@@ -2,3 +2,4 @@ def f():
     x = 1
-    y = 2
+    y = 3
+    w = 4
     return x
@@ -10,0 +12,2 @@
+-- not a header
+++ not a header either
diff --git a/old.py b/new.py
similarity index 90%
rename from old.py
rename to new.py
--- a/old.py
+++ b/new.py
@@ -1 +1 @@
--- removed line that looks like a header
+x = 1
diff --git a/added.py b/added.py
new file mode 100644
--- /dev/null
+++ b/added.py
@@ -0,0 +1,2 @@
+a = 1
+b = 2
diff --git a/gone.py b/gone.py
deleted file mode 100644
--- a/gone.py
+++ /dev/null
@@ -1,2 +0,0 @@
-a = 1
-b = 2
diff --git a/logo.png b/logo.png
Binary files a/logo.png and b/logo.png differ
"""


def test_hand_written_diff_line_numbers() -> None:
    files = parse_unified_diff(HAND_DIFF)
    assert [(f.old_path, f.new_path, f.binary) for f in files] == [
        ("src/a.py", "src/a.py", False),
        ("old.py", "new.py", False),
        (None, "added.py", False),
        ("gone.py", None, False),
        ("logo.png", "logo.png", True),
    ]
    first = files[0]
    assert len(first.hunks) == 2
    # old: 2 "x = 1", 3 "y = 2" (removed), 4 "return x"; new: 2, 3 "y = 3", 4 "w = 4", 5; then 12, 13.
    assert first.removed_lines() == {3}
    assert first.added_lines() == {3, 4, 12, 13}
    assert first.changed_texts() == (["    y = 2"], ["    y = 3", "    w = 4", "-- not a header", "++ not a header either"])
    # A removed line whose text starts with "-- " is not a file header.
    assert files[1].removed_lines() == {1} and files[1].added_lines() == {1}
    assert files[1].changed_texts() == (["-- removed line that looks like a header"], ["x = 1"])
    assert files[2].added_lines() == {1, 2} and files[2].removed_lines() == set()
    assert files[3].removed_lines() == {1, 2} and files[3].added_lines() == set()
    assert files[4].hunks == ()


def test_apply_matches_git(make_repo) -> None:
    """Differential: applying `git diff` (with context and with -U0) to v1 gives exactly v2."""
    repo = make_repo()
    v1 = "".join(f"line {i}\n" for i in range(1, 31))
    lines = v1.splitlines(keepends=True)
    lines[0] = "first changed\n"
    lines.insert(10, "inserted after 10\n")
    del lines[20:23]
    lines.append("no newline at the end")
    v2 = "".join(lines)
    (repo.root / "f.txt").write_text(v1, encoding="utf-8")
    repo.commit("v1")
    (repo.root / "f.txt").write_text(v2, encoding="utf-8")
    for context in ("-U3", "-U0", "-U1"):
        diff_text = repo.git("diff", context, "--no-color")
        (diff,) = parse_unified_diff(diff_text + "\n")
        assert apply_file_diff(v1, diff) == v2, context
    (diff,) = parse_unified_diff(repo.git("diff", "-U0", "--no-color") + "\n")
    assert diff.removed_lines() == {1, 20, 21, 22}  # old numbering: 1 changed; old 20-22 deleted
    assert 11 in diff.added_lines() and 1 in diff.added_lines()


def test_apply_rejects_a_patch_for_other_text() -> None:
    (diff,) = parse_unified_diff("--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a = 1\n-b = 2\n+b = 3\n")
    assert apply_file_diff("a = 1\nb = 2\nc = 4\n", diff) == "a = 1\nb = 3\nc = 4\n"
    with pytest.raises(PatchError, match="x.py:2"):
        apply_file_diff("a = 1\nb = 9\n", diff)


def test_real_swebench_patches_parse_with_consistent_counts() -> None:
    path = shared_data_dir() / "swebench" / "verified_dev.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    hunks = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            patch = json.loads(line)["patch"]
            files = parse_unified_diff(patch)
            assert files, "every gold patch changes at least one file"
            for diff in files:
                for hunk in diff.hunks:
                    old = sum(1 for t in hunk.lines if t[:1] in (" ", "-"))
                    new = sum(1 for t in hunk.lines if t[:1] in (" ", "+"))
                    assert (old, new) == (hunk.old_count, hunk.new_count)
                    hunks += 1
    assert hunks > 400
