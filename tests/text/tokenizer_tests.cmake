# Tokenizer (vocabulary, pre-tokenizers, BPE, partition) tests:
#   test_vocab             cmocka: load errors on vocab-only files written by
#                          the test, and a tiny hand-made BPE vocabulary
#   test_tokenizer_golden  pytest: ids identical to llama.cpp's on the
#                          committed corpus, for every golden vocabulary
#                          (tests/data/tokenizer/README.md); tokenize_tool
#                          runs all strings of one vocabulary in one process
add_executable(test_vocab test_vocab.c ${CMAKE_SOURCE_DIR}/tests/testutil.c)
target_include_directories(test_vocab PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_vocab PRIVATE tessera_text PkgConfig::CMOCKA)
add_test(NAME test_vocab COMMAND test_vocab)
set_tests_properties(test_vocab PROPERTIES LABELS "fast")

add_executable(tokenize_tool tokenize_tool.c)
target_include_directories(tokenize_tool PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(tokenize_tool PRIVATE tessera_text)

add_test(NAME test_tokenizer_golden
  COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider
          -s ${CMAKE_CURRENT_SOURCE_DIR}/test_tokenizer_golden.py)
set_tests_properties(test_tokenizer_golden PROPERTIES LABELS "fast"
  ENVIRONMENT "TS_TOKENIZE_TOOL=$<TARGET_FILE:tokenize_tool>;TS_MAKE_VOCAB=$<TARGET_FILE:make_vocab>;TS_TOKENIZER_DATA=${CMAKE_SOURCE_DIR}/tests/data/tokenizer")
