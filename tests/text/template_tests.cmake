# Chat-template interpreter unit tests (cmocka): expressions, filters,
# loops, whitespace control, errors with line and column, limits, the value
# API and the ChatML fallback.
add_executable(test_jinja test_jinja.c ${CMAKE_SOURCE_DIR}/tests/testutil.c)
target_include_directories(test_jinja PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(test_jinja PRIVATE tessera_text PkgConfig::CMOCKA)
add_test(NAME test_jinja COMMAND test_jinja)
set_tests_properties(test_jinja PROPERTIES LABELS "fast")
