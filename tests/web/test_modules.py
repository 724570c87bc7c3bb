"""The playground's pure modules (request building, SSE parsing, answer assembly, snippets,
JSON checking) under Node's own test runner: tests/web/js/*.test.mjs.

The modules are ES modules with a .js suffix, which Node reads as ES modules only inside a
package that says so; the test runs them from a copy of the web folder that does, so the
package itself ships nothing Node-specific."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from qwenchat.api.playground import WEB

JS_TESTS = sorted((Path(__file__).parent / "js").glob("*.test.mjs"))


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``web/`` (the package's assets, as ES modules) and ``tests/``."""
    root = tmp_path_factory.mktemp("js")
    shutil.copytree(WEB, root / "web")
    (root / "web" / "package.json").write_text('{"type": "module"}\n')
    (root / "tests").mkdir()
    return root


@pytest.mark.parametrize("script", JS_TESTS, ids=[path.name for path in JS_TESTS])
def test_module(modules: Path, script: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed for the playground's module tests"
    copy = modules / "tests" / script.name
    shutil.copy(script, copy)
    result = subprocess.run([node, "--test", "--test-reporter=tap", str(copy)],
                            capture_output=True, text=True, timeout=120, cwd=modules)
    assert result.returncode == 0, result.stdout + result.stderr

