"""The shape of the code: no module over 600 lines outside the tests.

The import arrows are kept by import-linter (`.venv/bin/lint-imports`, run by bin/test).
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 600
SKIPPED_DIRS = {"tests", "migrations", ".venv", "var", "node_modules", "staticfiles"}
# Known long modules, to be split; each may not grow past the size it has here.
KNOWN_LONG: dict[str, int] = {}


def python_modules(root: Path = ROOT):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".")]
        yield from (Path(folder) / name for name in files if name.endswith(".py"))


def too_long(root: Path = ROOT) -> dict[str, int]:
    found = {}
    for path in python_modules(root):
        name = path.relative_to(root).as_posix()
        with path.open(encoding="utf-8") as lines:
            count = sum(1 for _ in lines)
        if count > KNOWN_LONG.get(name, MAX_LINES):
            found[name] = count
    return found


def test_no_module_is_over_600_lines_outside_the_tests():
    modules = {path.relative_to(ROOT).as_posix() for path in python_modules()}
    # The walk finds the product (a wrong root would pass vacuously).
    assert {"workorders/services.py", "spectora_integration/sync/engine.py"} <= modules
    assert not any(name.startswith("tests/") for name in modules)
    assert too_long() == {}


def test_the_line_limit_catches_a_long_module(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "short.py").write_text("x = 1\n" * MAX_LINES)
    (tmp_path / "app" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_long.py").write_text("x = 1\n" * 2000)
    assert too_long(tmp_path) == {"app/long.py": MAX_LINES + 1}
