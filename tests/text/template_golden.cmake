# Chat templates against jinja2 and the `tessera template` CLI (pytest).
# (Included from tests/text/CMakeLists.txt; the fuzz corpus replay,
# fuzz_template_corpus, lives in tests/fuzz/CMakeLists.txt.)
#
#   test_templates_golden  every template of tests/data/templates × every
#                          conversation × add_generation_prompt on/off,
#                          rendered by the CLI and compared byte for byte
#                          with jinja2's output in golden.json (made by
#                          scripts/gen_template_reference.py)
#   test_tools_template    the CLI: model files (template, BOS/EOS, ChatML
#                          fallback), variables, --date, errors, limits,
#                          the sandbox, exit codes
add_test(NAME test_templates_golden
  COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider -s
          ${CMAKE_SOURCE_DIR}/tests/text/test_templates_golden.py)
set_tests_properties(test_templates_golden PROPERTIES LABELS "fast"
  ENVIRONMENT "TESSERA_BIN=$<TARGET_FILE:tessera_cli>")

add_test(NAME test_tools_template
  COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider
          ${CMAKE_SOURCE_DIR}/tests/tools/test_template_cli.py)
set_tests_properties(test_tools_template PROPERTIES LABELS "fast"
  ENVIRONMENT "TESSERA_BIN=$<TARGET_FILE:tessera_cli>")
