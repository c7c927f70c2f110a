// `nodegate --version`: this build (version, commit) and the libraries it runs with — the
// versions the process loaded, not the headers it was compiled against, since Debian updates
// gRPC, OpenSSL and SQLite under a built binary.
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <grpcpp/grpcpp.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "nodegate_git_commit.h"  // generated: NODEGATE_GIT_COMMIT

namespace nodegate::cli {
namespace {

// The malloc this process runs with: a sanitizer's in a sanitizer build; else jemalloc (what the
// build links by default, src/cli/CMakeLists.txt), which answers mallctl("version"); else glibc's.
std::string Allocator() {
#if defined(__SANITIZE_ADDRESS__)
  return "AddressSanitizer's";
#elif defined(__SANITIZE_THREAD__)
  return "ThreadSanitizer's";
#else
  using Mallctl = int (*)(const char*, void*, size_t*, void*, size_t);
  auto mallctl = reinterpret_cast<Mallctl>(dlsym(RTLD_DEFAULT, "mallctl"));
  if (mallctl == nullptr) return absl::StrCat("glibc ", gnu_get_libc_version());
  const char* version = nullptr;
  size_t size = sizeof(version);
  if (mallctl("version", &version, &size, nullptr, 0) != 0 || version == nullptr) return "jemalloc";
  return absl::StrCat("jemalloc ", version);
#endif
}

}  // namespace

std::string VersionText() {
  return absl::StrCat("nodegate ", NODEGATE_VERSION, "\n",                         //
                      "commit   ", NODEGATE_GIT_COMMIT, "\n",                      //
                      "gRPC     ", grpc::Version(), "\n",                          //
                      "OpenSSL  ", OpenSSL_version(OPENSSL_VERSION_STRING), "\n",  //
                      "SQLite   ", sqlite3_libversion(), "\n",                     //
                      "malloc   ", Allocator());
}

}  // namespace nodegate::cli
