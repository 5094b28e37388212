"""The README's two commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_install_and_test_commands_that_ci_runs():
    readme = (ROOT / "README.md").read_text()
    first, second = re.findall(r"```bash\n(.*?)\n```", readme, re.S)[:2]
    ci = (ROOT / ".ci" / "run").read_text()
    install = "pip install -e '.[test]'"
    assert install in first and "genbench suite smoke" in first
    assert install in ci
    test_command = second.split("&&")[-1].strip()
    # one worker per core (pytest-xdist), each test file on one worker: module fixtures once
    assert test_command == "python -m pytest -q -n auto --dist loadfile"
    assert test_command in ci
    # the test command installs the peers, and so does CI, where a missing one is a failure
    test_install = second.split("&&")[-2].strip()
    assert test_install == "pip install -e '.[test,peers]'"
    assert test_install in ci
    assert "export GENBENCH_REQUIRE_PEERS=1" in ci
    assert readme.index(first) < readme.index("genbench is a JAX suite")
