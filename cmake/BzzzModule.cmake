# The layering of docs/ARCHITECTURE.md, enforced at configure time.
#
#   bzzz_module(<layer>/<module> SOURCES ... DEPS ... [THIRD_PARTY ...])
#
# creates the static library target bzzz_<layer>_<module> (an interface library when
# there are no SOURCES: a header-only module). DEPS may only name bzzz
# modules of the same or a lower layer; anything else in DEPS is a configure error, so
# an upward #include cannot link. THIRD_PARTY lists external targets.

set(BZZZ_LAYERS base infra p2p content coord services node cli)

function(_bzzz_layer_rank layer out)
  list(FIND BZZZ_LAYERS ${layer} rank)
  if(rank EQUAL -1)
    message(FATAL_ERROR "unknown layer '${layer}' (layers: ${BZZZ_LAYERS})")
  endif()
  set(${out} ${rank} PARENT_SCOPE)
endfunction()

function(bzzz_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${BZZZ_WERROR}>>:-Werror>)
endfunction()

function(bzzz_module path)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;THIRD_PARTY" ${ARGN})
  string(REPLACE "/" ";" parts ${path})
  list(GET parts 0 layer)
  _bzzz_layer_rank(${layer} rank)
  string(REPLACE "/" "_" name ${path})
  set(target bzzz_${name})
  foreach(dep IN LISTS M_DEPS)
    if(NOT TARGET ${dep})
      message(FATAL_ERROR "${target}: dependency ${dep} is not defined yet (define lower layers first)")
    endif()
    get_target_property(dep_rank ${dep} BZZZ_LAYER_RANK)
    get_target_property(dep_layer ${dep} BZZZ_LAYER)
    if(dep_rank GREATER rank)
      message(FATAL_ERROR "${target} (layer ${layer}) may not depend on ${dep} (layer ${dep_layer}): layers only use the ones below them")
    endif()
  endforeach()
  if(NOT M_SOURCES)
    add_library(${target} INTERFACE)
    set_target_properties(${target} PROPERTIES BZZZ_LAYER ${layer} BZZZ_LAYER_RANK ${rank})
    target_include_directories(${target} INTERFACE ${BZZZ_SRC_ROOT})
    target_link_libraries(${target} INTERFACE ${M_DEPS} ${M_THIRD_PARTY})
    return()
  endif()
  add_library(${target} STATIC ${M_SOURCES})
  set_target_properties(${target} PROPERTIES BZZZ_LAYER ${layer} BZZZ_LAYER_RANK ${rank})
  target_include_directories(${target} PUBLIC ${BZZZ_SRC_ROOT})
  target_link_libraries(${target} PUBLIC ${M_DEPS} ${M_THIRD_PARTY})
  bzzz_warnings(${target})
endfunction()

# Tests: one gtest binary per module directory, registered with CTest.
function(bzzz_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  bzzz_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()
