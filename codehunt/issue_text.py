"""Read a bug report the way a developer does: prose, code, tracebacks, file paths, identifiers.

An issue is not a search query: it is hundreds of tokens of prose, reproduction code, logs
and stack traces. Two things are taken from it here:

* :func:`split_issue` cuts it into passages that fit a bi-encoder's window, so the dense
  side can score every passage and pool (MaxP, Dai & Callan 2019) instead of reading only
  the first 256 tokens;
* :func:`extract_evidence` collects the explicit pointers a developer would follow first:
  traceback frames (``File "x.py", line 3, in f`` and pytest's ``x.py:3: in f``), file
  paths (also inside GitHub ``blob`` links, with their ``#L`` line anchors), dotted module
  names (``xarray.core.dataset``) and code identifiers (``snake_case``, ``CamelCase``,
  ``obj.attr``, ``call(``, anything in backticks or a code block).

Which of these pointers actually help ranking is measured in ``benchmarks/localize.py``;
this module only finds them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

SOURCE_SUFFIXES = (".py", ".pyx", ".pyi", ".js", ".ts", ".java", ".go", ".rb", ".rs", ".c", ".h", ".cpp", ".cc", ".hpp")

_PY_FRAME = re.compile(r'File "([^"\n]+)", line (\d+), in ([\w<>.]+)')
_PYTEST_FRAME = re.compile(r"(?m)^\s*([\w./\\:-]+\.py):(\d+):(?: in ([\w<>.]+))?")
_BLOB_URL = re.compile(r"github\.com/[\w.-]+/[\w.-]+/blob/[\w.-]+/([\w./-]+)(?:#L(\d+)(?:-L(\d+))?)?")
_PATH = re.compile(r"(?<![\w/.\\-])((?:[A-Za-z]:)?[/\\]?(?:[\w.-]+[/\\])*[\w-]+\.(?:" + "|".join(s[1:] for s in SOURCE_SUFFIXES) + r"))\b")
_FENCE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.S)
_BACKTICK = re.compile(r"`([^`\n]+)`")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_CALL_OR_ATTR = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\b([A-Za-z_][A-Za-z0-9_]*)\(")
_ENV_PREFIXES = ("site-packages/", "dist-packages/", "lib/python")

# Words that look like identifiers in prose or logs but name nothing in a codebase.
_NOISE = frozenset(
    "self cls args kwargs none true false print import from return def class lambda module "
    "python pip pytest traceback error exception warning http https www com org github".split()
)


@dataclass(frozen=True)
class Frame:
    """One traceback frame: the path as written, its line and the function name (may be ``<module>``)."""

    path: str
    line: int
    function: str


@dataclass(frozen=True)
class IssueEvidence:
    """Explicit pointers into the code found in an issue's text."""

    frames: tuple[Frame, ...] = field(default=(), metadata={"help": "traceback frames, in text order"})
    paths: tuple[str, ...] = field(default=(), metadata={"help": "file paths mentioned (frames and links included), normalised"})
    path_lines: tuple[tuple[str, int], ...] = field(default=(), metadata={"help": "(path, line) from link anchors and frames"})
    dotted: tuple[str, ...] = field(default=(), metadata={"help": "dotted names such as pkg.module.Class.method"})
    identifiers: frozenset[str] = field(default=frozenset(), metadata={"help": "names the reporter mentions: inline code, calls, attributes, dotted names, snake/Camel case words, frame functions"})
    prose_identifiers: frozenset[str] = field(default=frozenset(), metadata={"help": "the identifiers mentioned outside code blocks, logs and tracebacks"})
    code_words: frozenset[str] = field(default=frozenset(), metadata={"help": "other words of code blocks and logs (variables, test names)"})
    words: frozenset[str] = field(default=frozenset(), metadata={"help": "every identifier-shaped word of the text"})

    def to_json(self) -> dict[str, object]:
        return {
            "frames": [[f.path, f.line, f.function] for f in self.frames],
            "paths": list(self.paths),
            "dotted": list(self.dotted),
            "identifiers": sorted(self.identifiers),
        }


def normalise_path(path: str) -> str:
    """A mentioned path as a repo-relative-looking POSIX path: backslashes, drive letters and env prefixes removed.

    ``/usr/lib/python3.8/site-packages/requests/models.py`` -> ``requests/models.py``;
    paths that do not pass through an environment keep their components (matching is by
    suffix, see :func:`path_match_length`).
    """
    path = path.replace("\\", "/").strip().strip("'\"")
    path = re.sub(r"^[A-Za-z]:/", "/", path)
    for marker in ("site-packages/", "dist-packages/"):
        if marker in path:
            path = path.rsplit(marker, 1)[1]
    while path.startswith(("./", "../")):
        path = path.split("/", 1)[1]
    return path.lstrip("/")


def path_match_length(mentioned: str, path: str) -> int:
    """How many trailing components of the repo path ``path`` the mention names (0: no match).

    ``site-packages/requests/models.py`` names 2 components of ``requests/models.py``; a bare
    ``models.py`` names 1 (a file name only). The mention must agree on every component it
    shares with ``path``'s tail, except for leading ones beyond the second (an install or
    checkout prefix: ``src/_pytest/x.py`` and ``lib/_pytest/x.py`` agree on 2); a mention whose
    only agreement is the file name, with a different directory, names nothing.
    """
    mentioned_parts = [p for p in mentioned.split("/") if p]
    parts = path.split("/")
    n = 0
    while n < len(mentioned_parts) and n < len(parts) and mentioned_parts[-1 - n] == parts[-1 - n]:
        n += 1
    if n >= 2 or n == len(mentioned_parts) or n == len(parts):
        return n
    return 0  # same file name in another directory: `foo/models.py` does not name `requests/models.py`


def code_regions(text: str) -> list[str]:
    """The fenced code blocks, backtick spans and indented lines of ``text``."""
    regions = [m.group(0) for m in _FENCE.finditer(text)]
    rest = _FENCE.sub(" ", text)
    regions += [m.group(1) for m in _BACKTICK.finditer(rest)]
    regions += [line for line in rest.split("\n") if line.startswith(("    ", "\t", ">>>", "$ ")) and line.strip()]
    return regions


def _looks_like_code(word: str) -> bool:
    return "_" in word.strip("_") or (any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)) or word.startswith("__")


def _mentions(text: str) -> set[str]:
    """Names the reporter uses on purpose: inline code, calls, attributes, dotted names, snake_case / CamelCase words.

    Plain words of a pasted code block or log (local variables, test names) are not mentions;
    ``extract_evidence`` keeps them apart in ``code_words``.
    """
    found: set[str] = set()
    for span in _BACKTICK.findall(_FENCE.sub(" ", text)):
        found.update(_IDENT.findall(span))
    for match in _CALL_OR_ATTR.finditer(text):
        found.add(match.group(1) or match.group(2))
    for match in _DOTTED.finditer(text):
        if not match.group(0).endswith(SOURCE_SUFFIXES):
            found.update(match.group(0).split("."))
    found.update(word for word in _IDENT.findall(text) if _looks_like_code(word))
    return found


def extract_evidence(text: str) -> IssueEvidence:
    """Traceback frames, paths, dotted names and code identifiers of an issue (see the module docstring)."""
    frames: list[Frame] = []
    for match in _PY_FRAME.finditer(text):
        frames.append(Frame(normalise_path(match.group(1)), int(match.group(2)), match.group(3)))
    for match in _PYTEST_FRAME.finditer(text):
        frames.append(Frame(normalise_path(match.group(1)), int(match.group(2)), match.group(3) or ""))
    paths: dict[str, None] = {}
    path_lines: dict[tuple[str, int], None] = {}
    for frame in frames:
        paths.setdefault(frame.path)
        path_lines.setdefault((frame.path, frame.line))
    for match in _BLOB_URL.finditer(text):
        path = normalise_path(match.group(1))
        if path.endswith(SOURCE_SUFFIXES):
            paths.setdefault(path)
            if match.group(2):
                path_lines.setdefault((path, int(match.group(2))))
    for match in _PATH.finditer(text):
        paths.setdefault(normalise_path(match.group(1)))
    paths.pop("", None)

    fenced = "\n".join(m.group(0) for m in _FENCE.finditer(text))
    prose = _FENCE.sub(" ", text)
    dotted = list(dict.fromkeys(m.group(0) for m in _DOTTED.finditer(text) if not m.group(0).endswith(SOURCE_SUFFIXES)))
    identifiers = _mentions(text) | {f.function for f in frames if f.function and not f.function.startswith("<")}
    identifiers = {word for word in identifiers if len(word) > 2 and word.lower() not in _NOISE}
    prose_lines = "\n".join(line for line in prose.split("\n") if not line.startswith(("    ", "\t", ">>>", "$ ")))
    prose_identifiers = {word for word in _mentions(prose_lines) if word in identifiers}
    code_words = {w for w in _IDENT.findall(fenced + "\n" + "\n".join(code_regions(prose))) if len(w) > 2 and w.lower() not in _NOISE}
    return IssueEvidence(
        frames=tuple(frames),
        paths=tuple(paths),
        path_lines=tuple(path_lines),
        dotted=tuple(dotted),
        identifiers=frozenset(identifiers),
        prose_identifiers=frozenset(prose_identifiers),
        code_words=frozenset(code_words - identifiers),
        words=frozenset(_IDENT.findall(text)),
    )


def split_issue(text: str, max_chars: int = 1000, max_passages: int = 16) -> list[str]:
    """Cut an issue into at most ``max_passages`` passages of about ``max_chars`` characters.

    Passages end at line breaks (a line longer than ``max_chars`` is cut), so a traceback
    frame or a code line is never split in two. The first line (an issue's title) is
    prepended to every later passage: it is the densest summary of the whole report and
    keeps a passage of bare log lines tied to the topic. Long reports keep their first
    ``max_passages - 1`` passages and their last one (where the actual error usually is).
    """
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return []
    lines = text.split("\n")
    title = lines[0].strip()[:200]
    pieces: list[str] = []
    for line in lines:
        while len(line) > max_chars:
            pieces.append(line[:max_chars])
            line = line[max_chars:]
        pieces.append(line)
    passages: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        if current and size + len(piece) + 1 > max_chars:
            passages.append("\n".join(current).strip())
            current, size = [], 0
        current.append(piece)
        size += len(piece) + 1
    if current:
        passages.append("\n".join(current).strip())
    passages = [p for p in passages if p]
    if len(passages) > max_passages:
        passages = passages[: max_passages - 1] + passages[-1:]
    return [p if i == 0 or not title else f"{title}\n{p}" for i, p in enumerate(passages)]
