"""`make bench` runs every script under bench/ at CI size, `--small`: each must take it (three
did not, and `make bench` stopped at the first of them). The modules that are not scripts
(shared helpers) have no `__main__` and are left out."""

import ast

import pytest

from tests.servers import ROOT

SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if "__main__" in p.read_text())


def _options(path) -> set[str]:
    """The option strings the script's argparse parser is given."""
    options: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
            options |= {a.value for a in node.args if isinstance(a, ast.Constant)
                        and isinstance(a.value, str)}  # fmt: skip
    return options


def test_there_are_benchmark_scripts():
    assert len(SCRIPTS) >= 20


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_script_takes_small(script):
    assert "--small" in _options(script)


@pytest.mark.parametrize(
    "script", [p for p in SCRIPTS if "django.setup()" in p.read_text()], ids=lambda p: p.name
)
def test_every_benchmark_in_process_measures_with_debug_off(script):
    """DEBUG on logs every query (its SQL text, kept in memory): a benchmark that measured with
    it charged the code for work production never does (the default was on, stop 37)."""
    text = script.read_text()
    assert 'os.environ.setdefault("DEBUG", "0")' in text
    assert text.index('setdefault("DEBUG", "0")') < text.index("django.setup()")
