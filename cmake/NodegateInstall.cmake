# `cmake --install` and the CMake package (docs/install.md): the nodegate binary, one static library
# per src/ folder (plus the generated protobuf code, nodegate_proto), their headers under
# include/nodegate/ with the include layout the sources use (#include "rpc/server.h"), the .proto
# files beside them (so an own .proto can `import "nodegate/v1/options.proto"`), and
# lib/cmake/nodegate/ so that a project can
#   find_package(nodegate REQUIRED)
#   target_link_libraries(app PRIVATE nodegate::rpc nodegate::server)
# Exported names drop the prefix: nodegate_rpc -> nodegate::rpc. Components: "runtime" (binary,
# systemd unit, nginx template, docs, bash completion; the nodegate .deb) and "dev" (libraries,
# headers, CMake package; the nodegate-dev .deb). Included from the top-level CMakeLists.txt after
# every add_subdirectory(src/...).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NODEGATE_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/nodegate)
set(NODEGATE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/nodegate)

# Every library target the src/ folders (and proto/) define, found by folder so that a library
# added later is installed without an edit here.
set(NODEGATE_LIBRARIES)
file(GLOB _nodegate_dirs LIST_DIRECTORIES true ${PROJECT_SOURCE_DIR}/src/*)
foreach(dir ${PROJECT_SOURCE_DIR}/proto ${_nodegate_dirs})
  if(NOT EXISTS ${dir}/CMakeLists.txt)
    continue()
  endif()
  get_property(_targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t ${_targets})
    get_target_property(_type ${t} TYPE)
    if(t MATCHES "^nodegate_" AND _type MATCHES "^(STATIC|SHARED|INTERFACE)_LIBRARY$")
      list(APPEND NODEGATE_LIBRARIES ${t})
    endif()
  endforeach()
endforeach()

# The targets name their include directories by absolute path (src/ and proto's generated
# folder), which install(EXPORT) refuses: in the build tree they stay as they are, installed they
# become include/nodegate.
get_target_property(_nodegate_gen nodegate_proto INTERFACE_INCLUDE_DIRECTORIES)
foreach(t ${NODEGATE_LIBRARIES})
  get_target_property(_dirs ${t} INTERFACE_INCLUDE_DIRECTORIES)
  if(_dirs)
    set(_new)
    foreach(d ${_dirs})
      if(d STREQUAL NODEGATE_SRC OR d STREQUAL _nodegate_gen)
        list(APPEND _new "$<BUILD_INTERFACE:${d}>")
      else()
        list(APPEND _new "${d}")
      endif()
    endforeach()
    list(APPEND _new "$<INSTALL_INTERFACE:${NODEGATE_INSTALL_INCLUDEDIR}>")
    list(REMOVE_DUPLICATES _new)
    set_target_properties(${t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new}")
  endif()
  string(REGEX REPLACE "^nodegate_" "" _short ${t})
  set_target_properties(${t} PROPERTIES EXPORT_NAME ${_short})
  add_library(nodegate::${_short} ALIAS ${t})
endforeach()

install(TARGETS nodegate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS ${NODEGATE_LIBRARIES} EXPORT nodegateTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
# CMake strips executables only (`cmake --install --strip`, CPACK_STRIP_FILES); the archives
# would keep their debug info (~290 MB in RelWithDebInfo, 19 MB without) unless stripped here.
install(CODE "set(_nodegate_strip \"${CMAKE_STRIP}\")" COMPONENT dev)
install(CODE [[
  if(CMAKE_INSTALL_DO_STRIP AND _nodegate_strip)
    foreach(f IN LISTS CMAKE_INSTALL_MANIFEST_FILES)
      if(f MATCHES "/libnodegate_[a-z_]+[.]a$")
        if(NOT EXISTS "${f}")
          set(f "$ENV{DESTDIR}${f}")  # CPack's manifest names the path without its DESTDIR
        endif()
        execute_process(COMMAND ${_nodegate_strip} --strip-debug "${f}" COMMAND_ERROR_IS_FATAL ANY)
      endif()
    endforeach()
  endif()
]] COMPONENT dev)
# Headers of the libraries (not the CLI's), the generated protobuf headers and the .proto files.
install(DIRECTORY ${NODEGATE_SRC}/ DESTINATION ${NODEGATE_INSTALL_INCLUDEDIR} COMPONENT dev
  FILES_MATCHING PATTERN "*.h" PATTERN "cli" EXCLUDE PATTERN "assets" EXCLUDE)
install(DIRECTORY ${_nodegate_gen}/ DESTINATION ${NODEGATE_INSTALL_INCLUDEDIR} COMPONENT dev
  FILES_MATCHING PATTERN "*.pb.h")
install(DIRECTORY ${PROJECT_SOURCE_DIR}/proto/ DESTINATION ${NODEGATE_INSTALL_INCLUDEDIR}
  COMPONENT dev FILES_MATCHING PATTERN "*.proto")

install(EXPORT nodegateTargets NAMESPACE nodegate:: DESTINATION ${NODEGATE_INSTALL_CMAKEDIR}
  COMPONENT dev)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/nodegateConfig.cmake.in
  ${PROJECT_BINARY_DIR}/nodegateConfig.cmake INSTALL_DESTINATION ${NODEGATE_INSTALL_CMAKEDIR}
  PATH_VARS NODEGATE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/nodegateConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/nodegateConfig.cmake ${PROJECT_BINARY_DIR}/nodegateConfigVersion.cmake
  DESTINATION ${NODEGATE_INSTALL_CMAKEDIR} COMPONENT dev)

# ---- runtime files: systemd unit, nginx template, docs, bash completion ---------------------------
# The unit names the binary where this install puts it (/usr/bin/nodegate in the .deb): the path
# is written at install time, when the prefix is known (cmake --install --prefix, CPack).
install(CODE "
  set(_prefix \"\${CMAKE_INSTALL_PREFIX}\")
  if(DEFINED CPACK_PACKAGING_INSTALL_PREFIX)
    set(_prefix \"\${CPACK_PACKAGING_INSTALL_PREFIX}\")
  endif()
  file(READ \"${PROJECT_SOURCE_DIR}/deploy/systemd/nodegate.service\" _unit)
  string(REPLACE \"/usr/bin/nodegate\" \"\${_prefix}/${CMAKE_INSTALL_BINDIR}/nodegate\" _unit \"\${_unit}\")
  file(WRITE \"${PROJECT_BINARY_DIR}/deploy/nodegate.service\" \"\${_unit}\")
" COMPONENT runtime)
install(FILES ${PROJECT_BINARY_DIR}/deploy/nodegate.service DESTINATION lib/systemd/system
  COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/nodegate.sysusers
  DESTINATION lib/sysusers.d RENAME nodegate.conf COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/nginx/nodegate.conf
  DESTINATION ${CMAKE_INSTALL_DATADIR}/nodegate/nginx COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/bash-completion/nodegate
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime
  FILES_MATCHING PATTERN "*.md")
