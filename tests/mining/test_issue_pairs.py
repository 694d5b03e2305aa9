"""Issue -> fixed function pairs from a tiny repo with a real bug-fix commit and its patch."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codehunt.index.errors import BadInputError
from codehunt.mining.pairs import PairsConfig, mine_pairs, read_pairs
from tests.conftest import shared_data_dir

CALC = '''
def parse_number(text):
    """Parse a number."""
    text = text.strip()
    return int(text)


def add(a, b):
    return a + b


class Calculator:
    def __init__(self):
        self.memory = 0

    def divide(self, a, b):
        result = a / b
        return result

    def clear(self):
        self.memory = 0
'''

CALC_FIXED = (
    CALC.replace("    return int(text)", '    return float(text) if "." in text else int(text)')
    .replace("        result = a / b", '        if b == 0:\n            raise ZeroDivisionError("b is zero")\n        result = a / b')
    + "\n\ndef safe_divide(a, b):\n    return a / b if b else 0.0\n"
)


def make_instance_repo(make_repo, tmp_path: Path) -> tuple[Path, dict]:
    repo = make_repo("work")
    base = repo.commit("calculator", {"calc.py": CALC, "README.md": "# calc\n"})
    fix = repo.commit("fix floats and zero division", {"calc.py": CALC_FIXED, "README.md": "# calc\nfixed\n"})
    patch = repo.git("diff", base, fix) + "\n"
    repo.commit("later work", {"calc.py": CALC_FIXED + "\n\ndef later():\n    return 1\n"})
    repos = tmp_path / "repos"
    repos.mkdir()
    # A bare clone, as SWE-bench harnesses keep them.
    repo.git("clone", "-q", "--bare", str(repo.root), str(repos / "acme__calc"))
    instance = {
        "instance_id": "acme__calc-1",
        "repo": "acme/calc",
        "base_commit": base,
        "problem_statement": "Calculator crashes on float input and on division by zero.\n",
        "patch": patch,
    }
    return repos, instance


def write_instances(path: Path, instances: list[dict]) -> None:
    path.write_text("".join(json.dumps(i) + "\n" for i in instances), encoding="utf-8")


def test_issue_pairs_from_a_bug_fix(make_repo, tmp_path: Path) -> None:
    repos, instance = make_instance_repo(make_repo, tmp_path)
    broken = {**instance, "instance_id": "acme__calc-2", "patch": instance["patch"].replace("    return int(text)", "    return long(text)")}
    missing = {**instance, "instance_id": "other-1", "repo": "other/thing"}
    instances = tmp_path / "instances.jsonl"
    write_instances(instances, [instance, missing, broken])
    output = tmp_path / "pairs.jsonl"
    result = mine_pairs(PairsConfig(source=instances, output=output, repos=repos))
    assert result.kind == "issues"  # detected from the problem_statement / patch fields
    pairs = read_pairs(output)
    # parse_number (changed line) and Calculator.divide (insertion only), at base_commit;
    # safe_divide is new and add/clear are untouched.
    assert [p.qualname for p in pairs] == ["parse_number", "Calculator.divide"]
    base = instance["base_commit"]
    assert all(p.rev == base and p.repo == "acme/calc" and p.source == "issue" and p.path == "calc.py" for p in pairs)
    assert pairs[0].query == "Calculator crashes on float input and on division by zero."
    assert pairs[0].positive == 'def parse_number(text):\n    """Parse a number."""\n    text = text.strip()\n    return int(text)'
    assert pairs[1].positive == "def divide(self, a, b):\n    result = a / b\n    return result"  # the unfixed code
    assert pairs[1].positive_id == f"acme__calc:calc.py::Calculator.divide@{base[:12]}"
    # The broken patch: its calc.py hunk does not apply, so it yields nothing.
    assert result.dropped == {"no-function-edited": 1, "patch-does-not-apply": 1, "repo-missing": 1}


def test_issue_pairs_need_repos(tmp_path: Path) -> None:
    instances = tmp_path / "i.jsonl"
    write_instances(instances, [{"repo": "a/b", "base_commit": "0" * 40, "problem_statement": "x", "patch": ""}])
    with pytest.raises(BadInputError, match="--repos"):
        mine_pairs(PairsConfig(source=instances, output=tmp_path / "p.jsonl", kind="issues"))


def test_real_swebench_file_without_repos(tmp_path: Path) -> None:
    """The real verified_dev.jsonl is read and validated; with no repos present every instance is skipped."""
    path = shared_data_dir() / "swebench" / "verified_dev.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    (tmp_path / "repos").mkdir()
    result = mine_pairs(PairsConfig(source=path, output=tmp_path / "p.jsonl", repos=tmp_path / "repos"))
    assert result.pairs == 0
    assert result.dropped == {"repo-missing": sum(1 for line in path.open(encoding="utf-8") if line.strip())}
