"""The shape of the code (docs/architecture.md "Layers"), checked over its syntax trees.

`lint-imports` (pyproject.toml, `make lint`) holds the layers: which app may import which. This
file holds what import-linter cannot see:

1. Imports go at the top of the module. An import inside a function or method is refused,
   except in `AppConfig.ready` (it runs once the app registry is ready, and is where a higher
   app registers with a lower one), under `if TYPE_CHECKING:`, and in `manage.py`; anything
   else that truly must be lazy goes in LAZY_IMPORTS with the reason.
2. No app writes another app's tables. A module of one app calling `<Model>.objects.create`
   (`update`, `bulk_create`, `get_or_create`, `update_or_create`, `delete`, also at the end of
   a queryset chain) or `.save()`/`.delete()` on an instance of another app's model is refused:
   it must call that app's services. Best effort, from the syntax alone: a model is known by
   its class name (every model class name is unique across the apps); an instance is known when
   a function names it in a parameter annotation (`incident: Incident`) or assigns it from
   `Model(...)` or `Model.objects...`; an instance reached through a relation
   (`assignment.incident.save()`) is not followed. The composition root (demo data) is exempt:
   it seeds every app's tables.

Scope: the application packages; not their tests or migrations, and not bench/ (scripts that
must configure Django before importing any model).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("cad", "incidents", "resources", "radio", "duties")

# (module path, function) → why its import must stay lazy. Empty: nothing needs it today.
LAZY_IMPORTS: dict[tuple[str, str], str] = {}

# The composition root writes every app's tables on purpose (demo data); nothing else may.
WRITES_ANYWHERE = ("cad/demo/", "cad/management/commands/seed_demo.py")

WRITE_METHODS = {"create", "update", "bulk_create", "bulk_update", "get_or_create",
                 "update_or_create", "delete"}  # fmt: skip
INSTANCE_WRITES = {"save", "delete"}


def source_files() -> list[Path]:
    files = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            files.append(path)
    return files


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- 1. imports at the top ------------------------------------------------------------------


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def lazy_imports(tree: ast.Module, path: str) -> list[str]:
    """Imports inside a function or method, other than the allowed ones, as 'path:line name'."""
    found = []

    def visit(node: ast.AST, function: str | None, in_apps_ready: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom) and function is not None:
                if not in_apps_ready and (path, function) not in LAZY_IMPORTS:
                    name = (
                        child.module if isinstance(child, ast.ImportFrom) else child.names[0].name
                    )
                    found.append(f"{path}:{child.lineno} {function}() imports {name}")
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                ready = in_apps_ready or (
                    path.endswith("apps.py")
                    and child.name == "ready"
                    and isinstance(node, ast.ClassDef)
                )
                visit(child, function or child.name, ready)
            else:
                visit(child, function, in_apps_ready)

    visit(tree, None, False)
    return found


# --- 2. writes to another app's tables ------------------------------------------------------


def model_owners() -> dict[str, str]:
    """{model class name: app} from every app's models.py: its classes based on a `...Model`
    (models.Model, AppendOnlyModel), not its choices."""
    owners: dict[str, str] = {}
    for app in APPS:
        tree = ast.parse((ROOT / app / "models.py").read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                _name_of(b).endswith("Model") for b in node.bases
            ):
                assert node.name not in owners, f"model name {node.name} is not unique"
                owners[node.name] = app
    return owners


def _name_of(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _base_name(node: ast.AST) -> str | None:
    """The name a call/attribute chain starts from: `Unit` in `Unit.objects.filter(..).update`."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute | ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return None


def _chain_has_objects(node: ast.AST) -> bool:
    while isinstance(node, ast.Call | ast.Attribute | ast.Subscript):
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def foreign_writes(tree: ast.Module, path: str, app: str, owners: dict[str, str]) -> list[str]:
    """Writes in this module to models of other apps, as 'path:line what'."""
    found = []

    def foreign(model: str | None) -> bool:
        return model is not None and model in owners and owners[model] != app

    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        instances: dict[str, str] = {}  # variable → model class name
        args = function.args
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            annotation = arg.annotation
            if isinstance(annotation, ast.BinOp):  # `Incident | None`
                annotation = annotation.left
            if annotation is not None and _name_of(annotation) in owners:
                instances[arg.arg] = _name_of(annotation)
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                base = _base_name(node.value)
                if isinstance(target, ast.Name) and base in owners:
                    instances[target.id] = base
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            receiver = node.func.value
            base = _base_name(receiver)
            if method in WRITE_METHODS and _chain_has_objects(receiver) and foreign(base):
                found.append(f"{path}:{node.lineno} {base}.objects...{method}()")
            elif (
                method in INSTANCE_WRITES
                and isinstance(receiver, ast.Name)
                and foreign(instances.get(receiver.id))
            ):
                found.append(
                    f"{path}:{node.lineno} {receiver.id}.{method}() on a {instances[receiver.id]}"
                )
    return found


# --- the tests --------------------------------------------------------------------------------


def test_imports_are_at_the_top_of_every_module():
    found = []
    for path in source_files():
        found += lazy_imports(ast.parse(path.read_text()), rel(path))
    assert found == [], (
        "imports inside functions (move them up, or invert the dependency):\n" + "\n".join(found)
    )


def test_no_app_writes_another_apps_tables():
    owners = model_owners()
    assert {"Incident", "Unit", "Assignment", "RadioMessage", "Shift", "Event"} <= set(owners)
    found = []
    for path in source_files():
        name = rel(path)
        if name.startswith(WRITES_ANYWHERE):
            continue
        found += foreign_writes(ast.parse(path.read_text()), name, name.split("/")[0], owners)
    assert found == [], "writes to another app's tables (call its services):\n" + "\n".join(found)


# The checks themselves: each must catch what it is for, or the two tests above prove nothing.

LAZY = """
import os

def top():
    from radio.services import despatch_message_queue
    return despatch_message_queue

class Thing:
    def method(self):
        import json

if TYPE_CHECKING:
    from resources.models import Unit
"""

READY = """
from django.apps import AppConfig

class ResourcesConfig(AppConfig):
    def ready(self):
        from cad.live.events import react
"""

WRITES = """
from incidents.models import Incident, IncidentLogEntry

def follow(incident: Incident, unit) -> None:
    IncidentLogEntry.objects.create(incident=incident, text="x")
    Incident.objects.filter(pk=incident.pk).update(status="open")
    incident.save(update_fields=["status"])
    unit.save()
    entry = IncidentLogEntry.objects.get(pk=1)
    entry.delete()
"""


def test_the_import_check_catches_a_lazy_import():
    assert lazy_imports(ast.parse(LAZY), "resources/services.py") == [
        "resources/services.py:5 top() imports radio.services",
        "resources/services.py:10 method() imports json",
    ]
    assert lazy_imports(ast.parse(READY), "resources/apps.py") == []
    # `ready` is only excused in an AppConfig's apps.py
    assert lazy_imports(ast.parse(READY), "resources/services.py") != []


@pytest.mark.parametrize(("app", "expected"), [("resources", 4), ("incidents", 0)])
def test_the_write_check_catches_a_foreign_write(app, expected):
    owners = {"Incident": "incidents", "IncidentLogEntry": "incidents", "Unit": "resources"}
    found = foreign_writes(ast.parse(WRITES), f"{app}/services.py", app, owners)
    assert len(found) == expected, found
