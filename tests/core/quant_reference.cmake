# Quantization formats against outside references: llama.cpp's quantizer
# (committed data in tests/data/quant, made by scripts/gen_quant_reference.py)
# and gguf-py. The test needs only the data, numpy and gguf-py; quant_tool
# exposes libtessera's kernels and GGUF writer to it.
add_executable(quant_tool core/quant_tool.c)
target_link_libraries(quant_tool PRIVATE tessera)

add_test(NAME test_quant_reference
  COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider
          ${CMAKE_CURRENT_SOURCE_DIR}/core/test_quant_reference.py)
set_tests_properties(test_quant_reference PROPERTIES LABELS "fast"
  ENVIRONMENT "QUANT_TOOL=$<TARGET_FILE:quant_tool>;TS_QUANT_DATA=${CMAKE_CURRENT_SOURCE_DIR}/data/quant")
