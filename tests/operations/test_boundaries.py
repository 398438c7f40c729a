"""Nothing depends on the operations app except the URLconf and settings."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
ALLOWED = {"attik/urls.py", "attik/settings.py"}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_app_imports_operations():
    offenders = []
    for package in ("attik", "workorders", "spectora_integration", "spectora_sandbox"):
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if relative in ALLOWED:
                continue
            if any(m == "operations" or m.startswith("operations.")
                   for m in imported_modules(path)):
                offenders.append(relative)
    assert offenders == []


def test_settings_and_urls_are_how_it_is_wired():
    settings_text = (ROOT / "attik/settings.py").read_text()
    assert '"operations"' in settings_text
    assert "operations.middleware.RequestIdMiddleware" in settings_text
    assert 'include("operations.urls")' in (ROOT / "attik/urls.py").read_text()
