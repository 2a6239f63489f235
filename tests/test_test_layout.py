"""The tests' own layout: helpers live in tests/support/, and test modules stand alone.

A test module that imports another (or tests.conftest) runs that module's import-time code, drags
its fixtures along and breaks when it is renamed; an imported fixture shadows the parameter of the
same name (ruff F811). Shared helpers belong in tests/support/, shared fixtures in
tests/support/fixtures.py, which tests/conftest.py registers.
"""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_modules(source, package):
    """(line, module, names) for every import in `source`, relative imports resolved from `package`."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            names = [alias.name for alias in node.names]
            yield node.lineno, module, names
            for name in names:  # `from tests import conftest` imports a module, too
                yield node.lineno, f"{module}.{name}", []


def imports_of(path):
    package = ".".join(path.relative_to(TESTS.parent).parent.parts)
    return imported_modules(path.read_text(), package)


def is_test_module(module):
    parts = module.split(".")
    return parts[0] == "tests" and any(part == "conftest" or part.startswith("test_") for part in parts[1:])


def shared_fixtures():
    tree = ast.parse((TESTS / "support" / "fixtures.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list)
    }


def test_no_file_under_tests_imports_a_test_module_or_the_conftest():
    offences = [
        f"{path.relative_to(TESTS.parent)}:{line} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for line, module, _names in imports_of(path)
        if is_test_module(module)
    ]
    assert offences == [], "move what is shared to tests/support/"


def test_no_test_module_imports_a_shared_fixture_by_name():
    fixtures = shared_fixtures()
    assert {"topics", "finance", "smtp_inbox", "sign_up"} <= fixtures
    offences = [
        f"{path.relative_to(TESTS.parent)}:{line} imports {sorted(fixtures & set(names))}"
        for path in sorted(TESTS.glob("test_*.py"))
        for line, module, names in imports_of(path)
        if module.startswith("tests.") and fixtures & set(names)
    ]
    assert offences == [], "name the fixture as a parameter; tests/conftest.py registers it"


def test_the_checks_above_see_the_imports_they_forbid():
    """Guards the guard: each forbidden shape of import is caught."""
    forbidden = [
        "from tests.conftest import free_port",
        "import tests.conftest",
        "from tests import conftest",
        "from tests.test_delivery_engine import run_worker",
        "from . import test_delivery_workers",
        "from .conftest import BERLIN",
    ]
    for source in forbidden:
        assert any(is_test_module(module) for _line, module, _names in imported_modules(source, "tests")), source
    allowed = "from tests.support.smtp import SmtpServer\nfrom .support import workers"
    assert not any(is_test_module(module) for _line, module, _names in imported_modules(allowed, "tests"))
