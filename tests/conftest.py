"""Shared pytest helpers: where the real model files are.

TESSERA_MODEL_SMOLLM2 / TESSERA_MODEL_GEMMA3
                     a model file; default ${TESSERA_CACHE:-~/.cache/tessera}/models/<file>
TESSERA_SKIP_MODEL_TESTS=1
                     skip the tests that need a missing real file instead of failing
"""
import os
import pathlib

import pytest

MODELS = {
    "smollm2": {"env": "TESSERA_MODEL_SMOLLM2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"},
    "gemma3": {"env": "TESSERA_MODEL_GEMMA3", "file": "gemma-3-270m-q4_k_m.gguf"},
}


def model_path(model):
    """Path of a real model file; fails (or skips, see above) when it is missing."""
    spec = MODELS[model]
    cache = os.environ.get("TESSERA_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "tessera")
    path = pathlib.Path(os.environ.get(spec["env"]) or
                        pathlib.Path(cache) / "models" / spec["file"])
    if path.is_file():
        return path
    message = (f"{path} is missing: run scripts/fetch-model.sh {model} to download "
               f"{spec['file']} (or set {spec['env']})")
    if os.environ.get("TESSERA_SKIP_MODEL_TESTS") == "1":
        pytest.skip(message)
    pytest.fail(message)


@pytest.fixture(scope="session")
def smollm2_path():
    return model_path("smollm2")
