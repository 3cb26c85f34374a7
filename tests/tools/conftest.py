"""Fixtures for the `tessera` CLI tests.

TESSERA_BIN          the built binary (set by ctest; required)
TESSERA_MODEL_SMOLLM2
                     the real SmolLM2-135M-Instruct Q4_1 file; default
                     ${TESSERA_CACHE:-~/.cache/tessera}/models/<name>
TESSERA_SKIP_MODEL_TESTS=1
                     skip the tests that need the real file instead of
                     failing when it is missing
"""
import os
import pathlib
import subprocess

import pytest

SMOLLM2_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


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


def smollm2_default_path():
    cache = os.environ.get("TESSERA_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "tessera")
    return pathlib.Path(cache) / "models" / SMOLLM2_NAME


@pytest.fixture(scope="session")
def smollm2_path():
    path = pathlib.Path(os.environ.get("TESSERA_MODEL_SMOLLM2") or smollm2_default_path())
    if path.is_file():
        return path
    message = (f"{path} is missing: run scripts/fetch-model.sh to download "
               f"{SMOLLM2_NAME} (or set TESSERA_MODEL_SMOLLM2)")
    if os.environ.get("TESSERA_SKIP_MODEL_TESTS") == "1":
        pytest.skip(message)
    pytest.fail(message)
