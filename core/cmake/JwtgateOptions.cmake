# The compile and link options of the project's own targets: one warnings list, -march=native
# (JWTGATE_NATIVE), the sanitizers (JWTGATE_SANITIZE) and, in the fuzz build, coverage
# instrumentation (tests/fuzz/CMakeLists.txt adds it to jwtgate_options).
#
# They are a build choice, not a usage requirement: every target of the project links
# jwtgate_options PRIVATE through jwtgate_target_options(), and nothing propagates them, so the
# installed package hands none of them to its consumers. The sanitizer link options reach every
# executable because every executable calls jwtgate_target_options(); a check at the end of
# the configure step names any target that does not.

set(JWTGATE_WARNINGS
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wconversion -Wsign-conversion -Wnull-dereference -Wdouble-promotion
  -Wformat=2 -Wimplicit-fallthrough -Wno-missing-field-initializers)

add_library(jwtgate_options INTERFACE)
target_compile_options(jwtgate_options INTERFACE ${JWTGATE_WARNINGS})
if(JWTGATE_NATIVE)
  target_compile_options(jwtgate_options INTERFACE -march=native)
endif()
if(JWTGATE_SANITIZE)
  string(REPLACE ";" "," _san "${JWTGATE_SANITIZE}")
  target_compile_options(jwtgate_options INTERFACE -fsanitize=${_san} -fno-omit-frame-pointer
                                                   -fno-sanitize-recover=all)
  target_link_options(jwtgate_options INTERFACE -fsanitize=${_san})
endif()

# jwtgate_target_options(<target>...): the project's options for these targets, PRIVATE.
# BUILD_INTERFACE keeps jwtgate_options out of the export of an installed static library
# (whose private dependencies are otherwise exported as link-only ones).
function(jwtgate_target_options)
  foreach(t ${ARGN})
    target_link_libraries(${t} PRIVATE $<BUILD_INTERFACE:jwtgate_options>)
  endforeach()
endfunction()

# Every compiled target of the project, in `dir` and below.
function(_jwtgate_compiled_targets dir out)
  set(result "")
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t ${targets})
    get_target_property(type ${t} TYPE)
    if(type MATCHES "^(EXECUTABLE|STATIC_LIBRARY|SHARED_LIBRARY|MODULE_LIBRARY|OBJECT_LIBRARY)$")
      list(APPEND result ${t})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(d ${subdirs})
    _jwtgate_compiled_targets(${d} sub)
    list(APPEND result ${sub})
  endforeach()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

function(_jwtgate_check_target_options)
  _jwtgate_compiled_targets(${PROJECT_SOURCE_DIR} targets)
  set(missing "")
  foreach(t ${targets})
    get_target_property(libs ${t} LINK_LIBRARIES)
    if(NOT "$<BUILD_INTERFACE:jwtgate_options>" IN_LIST libs)
      list(APPEND missing ${t})
    endif()
  endforeach()
  if(missing)
    message(FATAL_ERROR "Targets without jwtgate_target_options() (no warnings, no sanitizers): "
                        "${missing}")
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL _jwtgate_check_target_options)
