"""`make bench` runs every script under bench/ at CI size, `--small`: each must take it (three
did not, and `make bench` stopped at the first of them). The modules that are not scripts
(shared helpers) have no `__main__` and are left out."""

import ast
import os

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
    guarded = 'if __name__ == "__main__":\n    os.environ.setdefault("DEBUG", "0")'
    assert guarded in text
    assert text.index(guarded) < text.index("django.setup()")


def test_importing_a_benchmark_leaves_debug_alone():
    """Tests import bench modules (tests/test_bench_lfb_bounds.py, …): a DEBUG=0 put in the
    test process's environment reached every server a later test started, which then served
    no static files (DEBUG off without collectstatic): five failures in stop 37's CI. Imported
    in a process of its own, as the imports run Django's set-up."""
    import subprocess
    import sys

    names = [p.stem for p in SCRIPTS if "django.setup()" in p.read_text()]
    probe = (
        "import importlib, os, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'bench')!r})\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except SystemExit:\n"  # simulate.py refuses to load without PostgreSQL
        "        pass\n"
        "    if 'DEBUG' in os.environ:\n"
        "        print(name)\n"
        "        break\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    out = subprocess.run(
        [sys.executable, "-c", probe, *names], env=env, cwd=ROOT, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == "", f"importing {out.stdout.strip()} set DEBUG"
