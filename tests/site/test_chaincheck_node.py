"""The chain check's rules in the reader's browser (``frontend/static/js/rules.js``), unit
tested with Node's own test runner on hand-made event lists and OpenZeppelin-built batch
files (``tests/site/chaincheck_rules.test.mjs``): this test runs them and fails with their
output when any fails."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import REPO_ROOT

TESTS = REPO_ROOT / "tests" / "site" / "chaincheck_rules.test.mjs"


def test_the_browser_rules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js 20 is needed (README: Set-up)"
    proc = subprocess.run([node, "--test", str(TESTS)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
    assert "# fail 0" in proc.stdout
    passed = next(int(line.split()[-1]) for line in proc.stdout.splitlines() if line.startswith("# pass"))
    assert passed >= 25, proc.stdout[-2000:]
