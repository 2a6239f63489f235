"""Imports go one way (docs/architecture.md, "Which way imports go").

The layers contract lives in pyproject.toml ([tool.importlinter]); this runs it, so a plain
`pytest` enforces it as `make test` does. A function-level import can hide an upward import from a
reader (import-linter still sees it, but a reviewer does not): outside an AppConfig.ready() they
must say on their line why they cannot be at the top (`# lazy: …`).
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rundbrief"


def test_no_package_imports_one_above_it():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def function_level_imports(path):
    """(line number, module) of every import of rundbrief inside a function body."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if path.name == "apps.py" and function.name == "ready":
            continue  # Django's place for imports that need the app registry (signals, registries)
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rundbrief"):
                found.append((node.lineno, node.module))
            elif isinstance(node, ast.Import):
                found += [(node.lineno, a.name) for a in node.names if a.name.startswith("rundbrief")]
    return found


def test_function_level_imports_of_our_modules_say_why():
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        lines = path.read_text().splitlines()
        for lineno, module in function_level_imports(path):
            if "# lazy:" not in lines[lineno - 1]:
                unexplained.append(f"{path.relative_to(ROOT)}:{lineno}: {module}")
    assert unexplained == [], "move these to the top of the module, or say why not with '# lazy: …'"


def test_the_function_level_import_check_finds_a_hidden_import(tmp_path):
    """The check itself can fail: a function that imports a module of ours is found."""
    module = tmp_path / "example.py"
    module.write_text("def f():\n    from rundbrief.delivery import engine\n    return engine\n")
    assert function_level_imports(module) == [(2, "rundbrief.delivery")]


def test_the_architecture_doc_names_the_layers_in_the_contracts_order():
    import re
    import tomllib

    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    layers = [re.split(r"\s*[|:]\s*", layer.strip("()")) for layer in contract["layers"]]
    doc = (ROOT / "docs" / "architecture.md").read_text()
    section = doc.split("## Which way imports go", 1)[1].split("##", 1)[0]
    listed = section.split("never above", 1)[1].split(":", 1)[1].split(".", 1)[0]
    named = [re.split(r",\s*|\s+and\s+", group.strip()) for group in listed.split(";")]
    assert named == layers
