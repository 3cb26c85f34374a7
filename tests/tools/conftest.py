"""Fixtures for the `tessera` CLI tests.

TESSERA_BIN          the built binary (set by ctest; required)
The real model files come from tests/conftest.py (smollm2_path).
"""
import os
import subprocess

import pytest


@pytest.fixture(scope="session")
def tessera_bin():
    path = os.environ.get("TESSERA_BIN")
    if not path:
        pytest.fail("TESSERA_BIN is not set: point it at the built `tessera` binary "
                    "(ctest sets it)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"TESSERA_BIN={path} is not an executable file")
    return path


@pytest.fixture(scope="session")
def tessera(tessera_bin):
    """Run `tessera ARGS...`; returns the CompletedProcess (bytes output)."""
    def run(*args, timeout=300):
        return subprocess.run([tessera_bin, *map(str, args)], capture_output=True,
                              timeout=timeout, check=False)
    return run
