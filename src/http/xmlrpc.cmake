# XML-RPC over HTTPS: the seed's KeyValueServer over the node's KeyValue store (issue 5).
# Included from src/http/CMakeLists.txt; self-contained (creates or extends nodegate_http).
find_program(XMLRPC_C_CONFIG xmlrpc-c-config REQUIRED)
# c++2 server-util: the C++ API plus xmlrpc_c::registry (libxmlrpc_server++); the facts note gives
# only `c++2 --libs`, which lacks the registry.
execute_process(COMMAND ${XMLRPC_C_CONFIG} c++2 server-util --libs
  OUTPUT_VARIABLE NODEGATE_XMLRPC_LIBS OUTPUT_STRIP_TRAILING_WHITESPACE COMMAND_ERROR_IS_FATAL ANY)
separate_arguments(NODEGATE_XMLRPC_LIBS UNIX_COMMAND "${NODEGATE_XMLRPC_LIBS}")

# libexpat (not xmlrpc-c's private copy, whose symbols are prefixed xmlrpc_XML_*) screens every
# call body before xmlrpc-c parses it: xml_guard.h.
pkg_check_modules(EXPAT REQUIRED IMPORTED_TARGET expat)

add_library(nodegate_http_xmlrpc STATIC
  ${CMAKE_CURRENT_LIST_DIR}/xml_guard.cc
  ${CMAKE_CURRENT_LIST_DIR}/xmlrpc_kv.cc
  ${CMAKE_CURRENT_LIST_DIR}/xmlrpc_server.cc
  ${CMAKE_CURRENT_LIST_DIR}/xmlrpc_value_codec.cc
)
target_include_directories(nodegate_http_xmlrpc PUBLIC ${NODEGATE_SRC})
target_link_libraries(nodegate_http_xmlrpc PUBLIC
  nodegate_http_server nodegate_auth nodegate_observe nodegate_store nodegate_tls nodegate_crypto
  OpenSSL::SSL OpenSSL::Crypto
  ${NODEGATE_XMLRPC_LIBS} PkgConfig::EXPAT spdlog::spdlog absl::status absl::statusor absl::strings absl::time
  Threads::Threads)

if(TARGET nodegate_http)
  get_target_property(_nodegate_http_type nodegate_http TYPE)
  if(_nodegate_http_type STREQUAL "INTERFACE_LIBRARY")
    target_link_libraries(nodegate_http INTERFACE nodegate_http_xmlrpc)
  else()
    target_link_libraries(nodegate_http PUBLIC nodegate_http_xmlrpc)
  endif()
else()
  add_library(nodegate_http INTERFACE)
  target_link_libraries(nodegate_http INTERFACE nodegate_http_xmlrpc)
endif()
