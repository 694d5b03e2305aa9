"""Unified diffs: parse ``git diff``/``git log -p`` output and SWE-bench patches, find the changed
lines on each side, and apply a patch to a file's text.

Hunks are consumed by their line counts, not by their prefixes, so a removed line whose
content starts with ``-- `` is never mistaken for a new file header.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from codehunt.index.errors import BadInputError

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_NO_NEWLINE = "\\ No newline at end of file"


class PatchError(BadInputError):
    """A patch does not apply to the text it claims to change."""


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` block; ``lines`` keep their one-character prefix (`` ``, ``-``, ``+``, ``\\``)."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[str, ...]


@dataclass(frozen=True)
class FileDiff:
    """The changes to one file. ``old_path`` is None for an added file, ``new_path`` for a deleted one."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...] = ()
    binary: bool = False

    def removed_lines(self) -> set[int]:
        """1-based old-side numbers of removed lines."""
        removed: set[int] = set()
        for hunk in self.hunks:
            line = hunk.old_start
            for text in hunk.lines:
                if text.startswith("-"):
                    removed.add(line)
                    line += 1
                elif text.startswith(" "):
                    line += 1
        return removed

    def added_lines(self) -> set[int]:
        """1-based new-side numbers of added lines."""
        added: set[int] = set()
        for hunk in self.hunks:
            line = hunk.new_start
            for text in hunk.lines:
                if text.startswith("+"):
                    added.add(line)
                    line += 1
                elif text.startswith(" "):
                    line += 1
        return added

    def changed_texts(self) -> tuple[list[str], list[str]]:
        """(removed line contents, added line contents), prefixes stripped."""
        removed = [text[1:] for hunk in self.hunks for text in hunk.lines if text.startswith("-")]
        added = [text[1:] for hunk in self.hunks for text in hunk.lines if text.startswith("+")]
        return removed, added


@dataclass
class _Builder:
    old_path: str | None = None
    new_path: str | None = None
    hunks: list[Hunk] = field(default_factory=list)
    binary: bool = False

    def build(self) -> FileDiff:
        return FileDiff(self.old_path, self.new_path, tuple(self.hunks), self.binary)


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual paths (``"a/caf\\303\\251.py"``)."""
    if len(path) >= 2 and path[0] == path[-1] == '"':
        raw = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        return raw.encode("latin-1", "replace").decode("utf-8", "replace")
    return path


def _side_path(value: str, prefix: str) -> str | None:
    value = _unquote(value.split("\t")[0].rstrip())
    if value == "/dev/null":
        return None
    return value[len(prefix) :] if value.startswith(prefix) else value


def parse_unified_diff(text: str) -> list[FileDiff]:
    """Split a multi-file unified diff into per-file changes.

    Understands ``diff --git`` headers (renames, added and deleted files, binary files)
    and bare ``---``/``+++`` patches; lines outside any file (commit messages, e-mail
    headers) are ignored.
    """
    files: list[FileDiff] = []
    current: _Builder | None = None
    lines = text.split("\n")
    position = 0
    while position < len(lines):
        line = lines[position]
        if line.startswith("diff --git "):
            if current is not None:
                files.append(current.build())
            current = _Builder()
            match = re.match(r'^diff --git ("?a/.*?"?) ("?b/.*"?)$', line)
            if match:
                current.old_path = _side_path(match.group(1), "a/")
                current.new_path = _side_path(match.group(2), "b/")
        elif line.startswith("--- ") and position + 1 < len(lines) and lines[position + 1].startswith("+++ "):
            if current is None or current.hunks:
                if current is not None:
                    files.append(current.build())
                current = _Builder()
            current.old_path = _side_path(line[4:], "a/")
            current.new_path = _side_path(lines[position + 1][4:], "b/")
            position += 1
        elif current is not None and line.startswith("new file mode"):
            current.old_path = None
        elif current is not None and line.startswith("deleted file mode"):
            current.new_path = None
        elif current is not None and line.startswith("rename from "):
            current.old_path = _unquote(line[len("rename from ") :])
        elif current is not None and line.startswith("rename to "):
            current.new_path = _unquote(line[len("rename to ") :])
        elif current is not None and (line.startswith("Binary files ") or line == "GIT binary patch"):
            current.binary = True
        elif current is not None and line.startswith("@@ "):
            match = _HUNK.match(line)
            if not match:
                raise PatchError(f"malformed hunk header {line[:80]!r}")
            old_start, new_start = int(match.group(1)), int(match.group(3))
            old_count = int(match.group(2)) if match.group(2) is not None else 1
            new_count = int(match.group(4)) if match.group(4) is not None else 1
            body: list[str] = []
            old_left, new_left = old_count, new_count
            position += 1
            while position < len(lines) and (old_left > 0 or new_left > 0):
                body_line = lines[position]
                if body_line.startswith("-"):
                    old_left -= 1
                elif body_line.startswith("+"):
                    new_left -= 1
                elif body_line.startswith(" ") or body_line == "":
                    # An empty line is a context line whose trailing space was stripped.
                    body_line = body_line or " "
                    old_left -= 1
                    new_left -= 1
                elif not body_line.startswith("\\"):
                    raise PatchError(f"hunk {line[:60]!r} ends early at {body_line[:60]!r}")
                body.append(body_line)
                position += 1
            if position < len(lines) and lines[position].startswith("\\"):
                body.append(lines[position])
                position += 1
            current.hunks.append(Hunk(old_start, old_count, new_start, new_count, tuple(body)))
            continue
        position += 1
    if current is not None:
        files.append(current.build())
    return files


def apply_file_diff(old_text: str, diff: FileDiff) -> str:
    """The new text of a file after ``diff``; raises PatchError when a context or removed line differs."""
    old_lines = old_text.splitlines(keepends=True)
    result: list[str] = []
    cursor = 0  # index into old_lines of the next line not yet copied
    for hunk in diff.hunks:
        # A hunk that removes nothing starts *after* old line old_start.
        start = hunk.old_start if hunk.old_count == 0 else hunk.old_start - 1
        if start < cursor or start > len(old_lines):
            raise PatchError(f"{diff.old_path}: hunk at line {hunk.old_start} is out of order or past the end")
        result.extend(old_lines[cursor:start])
        cursor = start
        for index, text in enumerate(hunk.lines):
            if text.startswith("\\"):
                continue
            no_newline = index + 1 < len(hunk.lines) and hunk.lines[index + 1] == _NO_NEWLINE
            prefix, content = text[0], text[1:]
            if prefix in " -":
                if cursor >= len(old_lines) or old_lines[cursor].rstrip("\r\n") != content.rstrip("\r"):
                    found = old_lines[cursor].rstrip("\r\n") if cursor < len(old_lines) else "<end of file>"
                    raise PatchError(f"{diff.old_path}:{cursor + 1}: patch expects {content[:60]!r}, file has {found[:60]!r}")
                if prefix == " ":
                    result.append(old_lines[cursor])
                cursor += 1
            else:
                result.append(content if no_newline else content + "\n")
    result.extend(old_lines[cursor:])
    return "".join(result)
