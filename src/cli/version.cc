// `nodegate --version`: this build (version, commit) and the libraries it runs with — the
// versions the process loaded, not the headers it was compiled against, since Debian updates
// gRPC, OpenSSL and SQLite under a built binary.
#include <grpcpp/grpcpp.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "nodegate_git_commit.h"  // generated: NODEGATE_GIT_COMMIT

namespace nodegate::cli {

std::string VersionText() {
  return absl::StrCat("nodegate ", NODEGATE_VERSION, "\n",                         //
                      "commit   ", NODEGATE_GIT_COMMIT, "\n",                      //
                      "gRPC     ", grpc::Version(), "\n",                          //
                      "OpenSSL  ", OpenSSL_version(OPENSSL_VERSION_STRING), "\n",  //
                      "SQLite   ", sqlite3_libversion());
}

}  // namespace nodegate::cli
