"""CI gate: bandit finds nothing unexplained. (pip-audit runs after the tests, from .ci/run:
.ci/dependency-audit, because it needs a vulnerability service that may be unreachable.)

Exceptions live in one file, .ci/security-exceptions.toml, each with its reason. A finding not
listed there fails the gate, and so does an entry that no longer matches anything. Both tools
run as subprocesses of the virtualenv's Python, so CI runs what a developer runs by hand:

    .venv/bin/python -m bandit -r . -x <excludes>
"""

import fnmatch
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXCEPTIONS = tomllib.loads((ROOT / ".ci" / "security-exceptions.toml").read_text())


def bandit_excludes() -> list[str]:
    # bandit matches -x patterns against "./path" and "./path/..." as it walks the tree.
    patterns = []
    for entry in EXCEPTIONS["bandit"]["exclude"]:
        assert entry.get("reason"), f"exclusion without a reason: {entry}"
        path = entry["path"]
        patterns += (
            [f"./{path}", f"./{path}/*"] if not path.startswith("*") else [path, f"{path}/*"]
        )
    return patterns


@pytest.fixture(scope="module")
def bandit_report() -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bandit", "-r", ".", "-q", "-f", "json",
         "-x", ",".join(bandit_excludes())],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.stdout.strip(), result.stderr  # bandit did not run at all
    report = json.loads(result.stdout)
    assert not report["errors"], report["errors"]  # a file bandit could not parse is unscanned
    return report


def test_bandit_has_no_unexplained_findings(bandit_report):
    report = bandit_report
    accepted = EXCEPTIONS["bandit"].get("accept", [])
    for entry in accepted:
        assert entry.get("reason"), f"accepted finding without a reason: {entry}"
    keys = {(e["file"], e["test"]) for e in accepted}
    found = [(r["filename"].removeprefix("./"), r["test_id"], r["line_number"], r["issue_text"])
             for r in report["results"]]  # fmt: skip

    unexplained = [f"{f}:{line} {test} {text}" for f, test, line, text in found
                   if (f, test) not in keys]  # fmt: skip
    assert not unexplained, (
        "bandit findings (fix, or justify in .ci/security-exceptions.toml):\n"
        + ("\n".join(unexplained))
    )
    stale = keys - {(f, test) for f, test, _, _ in found}
    assert not stale, f"exceptions that match no finding any more, remove them: {sorted(stale)}"

    scanned = report["metrics"]["_totals"]["loc"]
    assert scanned > 5000, f"bandit scanned only {scanned} lines: are the exclusions too wide?"
    for app in ["cad", "incidents", "resources", "duties", "radio"]:
        assert any(f"./{app}/" in name for name in report["metrics"]), f"{app} was not scanned"


def test_bandit_excludes_tests_and_the_virtualenv(bandit_report):
    # The exclusions work: nothing under them reaches the report.
    metrics = bandit_report["metrics"]
    scanned = [name.removeprefix("./") for name in metrics if name != "_totals"]
    for pattern in ["tests/*", ".venv/*", "*/migrations/*", "bench/*"]:
        assert not fnmatch.filter(scanned, pattern), pattern
