"""The docs keep up with the code: every setting and every command of ours is documented, the command
reference is what the commands' --help prints, the module map names every module, and comments name
files and functions that exist and point to docs/, not to issue numbers."""

import ast
import difflib
import functools
import importlib.util
import io
import os
import re
import sys
import tokenize
from pathlib import Path

import pytest
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
ENV_READ = re.compile(
    r"""env_(?:str|bool|int|float|list|choice)\(\s*["']([A-Z0-9_]+)["']|environ(?:\.get)?\(\s*["']([A-Z0-9_]+)["']"""
)


def settings_read_in_code():
    names = set()
    for path in (ROOT / "rundbrief").rglob("*.py"):
        for match in ENV_READ.finditer(path.read_text()):
            names.add(match.group(1) or match.group(2))
    names.discard("DJANGO_SETTINGS_MODULE")
    return names


def test_every_environment_variable_read_is_in_docs_settings():
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", (ROOT / "docs/settings.md").read_text(), re.M))
    missing = settings_read_in_code() - documented
    assert not missing, f"undocumented in docs/settings.md: {sorted(missing)}"
    assert {"DATABASE_URL", "SMTP_URL", "SITE_URL"} <= documented


def test_readme_configuration_table_names_the_main_variables():
    readme = (ROOT / "README.md").read_text()
    for name in [
        "DATABASE_URL",
        "SECRET_KEY",
        "RUNDBRIEF_DEBUG",
        "ALLOWED_HOSTS",
        "SMTP_URL",
        "SITE_URL",
        "TIME_ZONE",
        "LANGUAGE_CODE",
    ]:
        assert f"`{name}`" in readme, name
    assert "make run" in readme and "make test" in readme and "docs/architecture.md" in readme


def test_every_rundbrief_command_has_a_section_in_docs_cli():
    cli = (ROOT / "docs/cli.md").read_text()
    ours = [name for name, app in get_commands().items() if app.startswith("rundbrief.")]
    assert ours
    missing = [name for name in ours if f"## `rundbrief {name}" not in cli]
    assert not missing, f"undocumented in docs/cli.md: {missing}"


# -- docs/cli.md: the option lists are what the commands' --help prints --------------------------


def _cli_docs():
    spec = importlib.util.spec_from_file_location("cli_docs", ROOT / "scripts" / "cli_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_cli_md_holds_what_the_commands_help_prints():
    cli_docs = _cli_docs()
    if sys.version_info[:2] != cli_docs.PYTHON:
        pytest.skip(
            f"docs/cli.md is generated with Python {cli_docs.PYTHON}: argparse's layout differs between versions"
        )
    current = (ROOT / "docs/cli.md").read_text()
    generated, notes = cli_docs.render(current, cli_docs.our_commands())
    diff = "".join(
        difflib.unified_diff(current.splitlines(True), generated.splitlines(True), "docs/cli.md", "generated", n=1)
    )
    assert generated == current, f"docs/cli.md is out of date; run: {cli_docs.REGENERATE}\n{notes}\n{diff[:4000]}"


def test_cli_reference_does_not_depend_on_the_machine():
    """No path of this checkout, home or interpreter ends up in the generated help."""
    cli_docs = _cli_docs()
    text = "\n".join(cli_docs.command_help(name, app) for name, app in cli_docs.our_commands().items())
    for local in {str(ROOT), os.getcwd(), str(Path.home()), sys.prefix, sys.executable}:
        assert local not in text, local


# -- docs/architecture.md: the module map names exactly the modules there are ----------------------

MAP_ENTRY = re.compile(r"^(?P<indent>(?:  )*)(?P<name>[\w.]+(?:/|\.py))(?: {2,}(?P<role>\S.*))?$")
NOT_MAPPED = {"migrations", "management", "templates", "static", "locale", "__pycache__"}


def module_map():
    """Paths named in docs/architecture.md's module map, from the block between its markers."""
    text = (ROOT / "docs/architecture.md").read_text()
    block = re.search(r"<!-- modules:begin -->\n```\n(.*?)```\n<!-- modules:end -->", text, re.S)
    assert block, "docs/architecture.md has no module map between <!-- modules:begin --> and <!-- modules:end -->"
    paths, stack = [], []
    for line in block.group(1).splitlines():
        entry = MAP_ENTRY.match(line)
        assert entry and entry["role"], f"module map: not `NAME  role` indented by two spaces a level: {line!r}"
        depth = len(entry["indent"]) // 2
        assert depth <= len(stack), f"module map: indented too far: {line!r}"
        del stack[depth:]
        path = "".join(stack) + entry["name"]
        paths.append(path)
        if path.endswith("/"):
            stack.append(entry["name"])
    return paths


def modules_in_tree():
    """Every package and module under rundbrief/, by the rule stated above the map."""
    found = {"rundbrief/"}
    for path in (ROOT / "rundbrief").rglob("*.py"):
        relative = path.relative_to(ROOT)
        if NOT_MAPPED.intersection(relative.parts) or path.name in {"__init__.py", "apps.py"}:
            continue
        found.add(relative.as_posix())
    for init in (ROOT / "rundbrief").rglob("__init__.py"):
        relative = init.parent.relative_to(ROOT)
        if not NOT_MAPPED.intersection(relative.parts):
            found.add(relative.as_posix() + "/")
    return found


def test_architecture_module_map_names_every_module_and_only_those():
    named = module_map()
    assert len(named) == len(set(named)), "module map: a path is named twice"
    mapped = {path for path in named if path.startswith("rundbrief/")}
    in_tree = modules_in_tree()
    assert not in_tree - mapped, f"missing from the module map in docs/architecture.md: {sorted(in_tree - mapped)}"
    assert not mapped - in_tree, f"in the module map but not in the tree: {sorted(mapped - in_tree)}"
    gone = [path for path in named if not (ROOT / path).exists()]
    assert not gone, f"the module map names folders that do not exist: {gone}"


def test_architecture_says_where_signing_up_and_sending_start():
    text = (ROOT / "docs/architecture.md").read_text()
    assert "**Someone signs up.**" in text and "**A campaign is sent.**" in text
    section = text.split("## Where things start", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`(\w+/\w+\.py): (\w+)", section)
    assert len(named) >= 6, named
    missing = []
    for path, name in named:
        source = ROOT / "rundbrief" / path
        defined = re.compile(rf"^\s*(def|class) {name}\b|^{name} = ", re.M)
        if not source.exists() or not defined.search(source.read_text()):
            missing.append(f"{path}: {name}")
    assert missing == [], "docs/architecture.md, 'Where things start', names what the code does not define"


# -- code points to docs, not to a tracker the repository does not hold -----------------------------

ISSUE_NUMBER = re.compile(r"\bissue\s+#?\d", re.I)
PROSE_DIRS = ["rundbrief", "tests", "bench", "scripts"]


def _python_files():
    for folder in PROSE_DIRS:
        yield from (ROOT / folder).rglob("*.py")


def test_no_comment_cites_an_issue_number():
    """A reader of the repository cannot open a tracker's issue by its number: say the reason, or point to docs/."""
    places = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in list(_python_files()) + sorted((ROOT / "docs").glob("*.md"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ISSUE_NUMBER.search(line)
    ]
    assert not places, f"say the reason or point to docs/ instead of an issue number: {places}"


# -- comments and docstrings name files and functions that exist ------------------------------------

FILE_REF = re.compile(r"(?<![\w/.])((?:rundbrief|tests|bench|scripts|docs)/[\w/.-]*\w\.(?:py|md|sh))")
# `module.name` (intake.queue_mail, guard.ConsentGuard) or a full dotted path (rundbrief.audience.ledger.append_event).
DOTTED_REF = re.compile(r"(?<![\w.`/-])(rundbrief(?:\.\w+)+|[a-z_][a-z0-9_]*\.[A-Za-z_]\w*)")
NOT_A_NAME = {"py", "md", "csv", "eml", "txt", "html", "json", "po", "mo", "sqlite3", "lua"}


def prose_of(path):
    """(line, text) of every comment and docstring in a Python file."""
    source = path.read_text()
    found = [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                found.append((node.body[0].lineno, docstring))
    return found


@functools.cache
def defined_in(path):
    """Names a module defines itself (functions, classes, assignments at any depth), not those it imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Name):
                        names.add(part.id)
                    elif isinstance(part, ast.Attribute):
                        names.add(part.attr)
    return names


def _our_modules():
    """{last name: [files]} for every module and package under rundbrief/ (`engine`, `audience`)."""
    modules = {}
    for path in (ROOT / "rundbrief").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        name = path.parent.name if path.name == "__init__.py" else path.stem
        modules.setdefault(name, []).append(path)
    return modules


def _resolves(path, name):
    """`name` is defined in the module at `path`, is a submodule of its package, or is a model of its app."""
    folder = path.parent
    candidates = [path]
    if path.name == "__init__.py":
        if (folder / f"{name}.py").exists() or (folder / name / "__init__.py").exists():
            return True
        candidates.append(folder / "models.py")  # `delivery.RateWindow`: Django's app_label.Model
    return any(candidate.exists() and name in defined_in(candidate) for candidate in candidates)


def _full_path_resolves(parts):
    for i in range(len(parts), 1, -1):
        base = ROOT.joinpath(*parts[:i])
        module = base.with_suffix(".py") if base.with_suffix(".py").exists() else base / "__init__.py"
        if module.exists():
            return i == len(parts) or parts[i] in NOT_A_NAME or _resolves(module, parts[i])
    return False


def stale_references():
    modules = _our_modules()
    stale = []
    for path in _python_files():
        for line, text in prose_of(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            stale += [f"{where}: {m[1]}" for m in FILE_REF.finditer(text) if not (ROOT / m[1]).exists()]
            for match in DOTTED_REF.finditer(text):
                parts = match[1].split(".")
                if parts[0] == "rundbrief":
                    ok = _full_path_resolves(parts)
                else:
                    module, name = parts
                    if module not in modules or module in sys.stdlib_module_names or name in NOT_A_NAME:
                        continue
                    ok = any(_resolves(candidate, name) for candidate in modules[module])
                if not ok:
                    stale.append(f"{where}: {match[1]}")
    return stale


def test_comments_and_docstrings_name_files_and_functions_that_exist():
    stale = stale_references()
    assert not stale, f"comments or docstrings naming what does not exist (renamed or moved?): {stale}"


def test_docs_name_files_that_exist():
    stale = [
        f"{path.relative_to(ROOT)}:{number}: {match[1]}"
        for path in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in FILE_REF.finditer(line)
        if not (ROOT / match[1]).exists()
    ]
    assert not stale, f"docs naming files that do not exist: {stale}"


SECTION_REF = re.compile(r"""docs/(\w+\.md),\s+["“]([^"”]+)["”]""")


def test_cited_docs_sections_exist():
    """`docs/decisions.md, "Sign-up intake"` names a heading of that file (its start is enough)."""
    stale = []
    for path in list(_python_files()) + sorted((ROOT / "docs").glob("*.md")):
        text = path.read_text()
        for match in SECTION_REF.finditer(" ".join(text.split())):
            target = ROOT / "docs" / match[1]
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.M) if target.exists() else []
            if not any(heading.startswith(match[2]) for heading in headings):
                stale.append(f"{path.relative_to(ROOT)}: {match[0]}")
    assert not stale, f"citing a docs section that does not exist: {stale}"
