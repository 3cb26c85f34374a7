# Detokenizer and SentencePiece tests, the `tessera tokenize` CLI test.
# (Included from tests/text/CMakeLists.txt; the fuzz corpus replay lives in
# tests/fuzz/CMakeLists.txt.)
#
#   test_detok          cmocka: spm.c and detok.c on tiny vocabularies written
#                       with ts_gguf_writer (pieces, leading-space rule,
#                       clean-up, streaming of split UTF-8)
#   test_detok_golden   pytest: detokenization, pieces, decode(encode(s)) and
#                       streaming against llama.cpp's golden data
#   test_tools_tokenize pytest: the CLI against the golden ids
set(TS_TESTS_DIR ${CMAKE_CURRENT_SOURCE_DIR}/..)

add_executable(test_detok test_detok.c ${TS_TESTS_DIR}/testutil.c)
target_include_directories(test_detok PRIVATE ${CMAKE_SOURCE_DIR}/src ${TS_TESTS_DIR})
target_link_libraries(test_detok PRIVATE tessera_text PkgConfig::CMOCKA)
add_test(NAME test_detok COMMAND test_detok)
set_tests_properties(test_detok PROPERTIES LABELS "fast")

add_executable(detok_tool detok_tool.c)
target_link_libraries(detok_tool PRIVATE tessera_text)
add_test(NAME test_detok_golden
  COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider
          ${CMAKE_CURRENT_SOURCE_DIR}/test_detok_golden.py)
set_tests_properties(test_detok_golden PROPERTIES LABELS "fast"
  ENVIRONMENT "TS_DETOK_TOOL=$<TARGET_FILE:detok_tool>;TS_MAKE_VOCAB=$<TARGET_FILE:make_vocab>")

add_test(NAME test_tools_tokenize
  COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider
          ${TS_TESTS_DIR}/tools/test_tokenize_cli.py)
set_tests_properties(test_tools_tokenize PROPERTIES LABELS "fast"
  ENVIRONMENT "TESSERA_BIN=$<TARGET_FILE:tessera_cli>")
