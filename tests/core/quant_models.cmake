# The reference dequantizers on every tensor of the real models (SmolLM2
# Q4_1, Gemma 3 270M Q4_K_M) against gguf-py's dequantize, by digest; label
# `model` (`make check` fetches both files with scripts/fetch-model.sh all).
add_executable(dequant_digest core/dequant_digest.c)
target_link_libraries(dequant_digest PRIVATE tessera OpenSSL::Crypto)
add_test(NAME test_dequant_models
  COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider
          ${CMAKE_CURRENT_SOURCE_DIR}/core/test_dequant_models.py)
set_tests_properties(test_dequant_models PROPERTIES LABELS "model" TIMEOUT 600
  ENVIRONMENT "DEQUANT_DIGEST=$<TARGET_FILE:dequant_digest>")
