# Installs libjwtgate for other projects: the static library, the public headers, the CMake
# package `jwtgate` (find_package(jwtgate CONFIG), target jwtgate::jwtgate) and the pkg-config
# module `jwtgate`. Included from core/CMakeLists.txt; the executables, the systemd unit and the
# examples are installed by their own folders (cli/, daemon/). Private headers are not installed.
# Checked by tests/consumer (ctest consumer_install).
include(CMakePackageConfigHelpers)

set(JWTGATE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/jwtgate)

install(TARGETS jwtgate EXPORT jwtgateTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development)
install(FILES ${JWTGATE_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/jwtgate
        COMPONENT Development)
install(EXPORT jwtgateTargets NAMESPACE jwtgate:: DESTINATION ${JWTGATE_CMAKE_DIR}
        COMPONENT Development)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/jwtgateConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/jwtgateConfig.cmake INSTALL_DESTINATION ${JWTGATE_CMAKE_DIR})
# 0.x: a new minor version may break the API, so only the same major.minor is compatible.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/jwtgateConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/jwtgateConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/jwtgateConfigVersion.cmake
        DESTINATION ${JWTGATE_CMAKE_DIR} COMPONENT Development)

# pkg-config module, relocatable like the CMake package: the prefix is found from the folder
# of the .pc file, so `cmake --install --prefix` and DESTDIR installs both work.
set(_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${_pc_dir}")
  set(JWTGATE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _up "/${_pc_dir}" "/")
  string(REGEX REPLACE "/$" "" _up "${_up}")
  set(JWTGATE_PC_PREFIX "\${pcfiledir}/${_up}")
endif()
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(JWTGATE_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(JWTGATE_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
configure_file(${CMAKE_CURRENT_LIST_DIR}/jwtgate.pc.in ${CMAKE_CURRENT_BINARY_DIR}/jwtgate.pc
               @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/jwtgate.pc DESTINATION ${_pc_dir}
        COMPONENT Development)
