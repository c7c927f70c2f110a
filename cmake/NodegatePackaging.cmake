# The .deb packages (`make deb`, docs/install.md), built by CPack from the install rules of
# cmake/NodegateInstall.cmake:
#   nodegate      the binary, systemd unit, sysusers file, nginx template, docs, bash completion;
#                 Depends from dpkg-shlibdeps, plus adduser for the postinst.
#   nodegate-dev  the static libraries, headers, .proto files and CMake package; Depends on the
#                 Debian -dev packages the CMake package's find_dependency() calls need.
# Maintainer scripts are in deploy/debian/.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME nodegate)
set(CPACK_PACKAGE_VENDOR "nodegate")
set(CPACK_PACKAGE_CONTACT "nodegate maintainers <nodegate@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "secure node-to-node gRPC: mTLS, per-call signatures, tokens, app keys, per-method policy")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # the RelWithDebInfo binary is ~180 MB with its debug info
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/nodegate/nodegate")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME nodegate)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SUGGESTS "nginx-light | nginx, bash-completion")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
  ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
  ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME nodegate-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_SHLIBDEPS OFF)  # static archives and headers only
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libgrpc++-dev, libprotobuf-dev, protobuf-compiler, protobuf-compiler-grpc, libssl-dev, libsqlite3-dev, libpq-dev, libnghttp2-dev, libabsl-dev, libspdlog-dev, libtomlplusplus-dev, nlohmann-json3-dev, libboost-dev, libexpat1-dev, libxmlrpc-c++8-dev, pkg-config")
# CPack puts CPACK_PACKAGE_DESCRIPTION_SUMMARY first and indents these lines itself.
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
  "nodegate serve runs a node: gRPC over mTLS with hot-reloaded certificates,\nper-call signatures (SM2, ECDSA, Ed25519) with replay protection, tokens,\napp keys and per-method policy. Ships a hardened systemd unit, an nginx\ntemplate and bash completion.")
set(CPACK_DEBIAN_DEV_DESCRIPTION
  "Static libraries, headers and a CMake package (find_package(nodegate))\nfor serving your own gRPC methods with nodegate's authorization.")
include(CPack)
