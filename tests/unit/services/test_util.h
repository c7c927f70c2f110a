// Helpers shared by the services unit tests: real SQLite stores in a fresh directory, real
// Principals, and a call through an rpc::MethodTable the way the server core makes it (request
// serialized into a buffer, response parsed back out).
#pragma once

#include <grpcpp/support/byte_buffer.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth/principal.h"
#include "google/protobuf/message_lite.h"
#include "gtest/gtest.h"
#include "rpc/message.h"
#include "rpc/method_table.h"
#include "store/sqlite/sqlite_stores.h"
#include "tls/peer_identity.h"

namespace nodegate::services::testing {

template <typename T>
T Unwrap(absl::StatusOr<T> v) {
  EXPECT_TRUE(v.ok()) << v.status();
  if (!v.ok()) std::abort();  // a broken fixture makes every following line meaningless
  return *std::move(v);
}

// A database path in a new empty directory under NODEGATE_TEST_TMPDIR.
inline std::string NewDbPath() {
  std::filesystem::create_directories(NODEGATE_TEST_TMPDIR);
  std::string templ = std::string(NODEGATE_TEST_TMPDIR) + "/services-XXXXXX";
  EXPECT_NE(::mkdtemp(templ.data()), nullptr);
  return templ + "/nodegate.db";
}

inline store::Stores OpenStores() { return Unwrap(store::OpenSqliteStores(NewDbPath())); }

inline auth::Principal MakePrincipal(auth::Principal::Kind kind, std::string id,
                                     std::vector<std::string> roles = {},
                                     uint32_t authenticators = 0) {
  auth::Principal p;
  p.kind = kind;
  p.id = std::move(id);
  p.roles = std::move(roles);
  p.authenticators = authenticators;
  return p;
}

// Runs the unary `method` of `table` on an already-serialized request, as the core does once the
// Authorizer has accepted the call as `principal`; parses the response into `response` on OK.
inline absl::Status CallBuffer(const rpc::MethodTable& table, std::string_view method,
                               const grpc::ByteBuffer& request,
                               google::protobuf::MessageLite* response,
                               const auth::Principal& principal = auth::Principal()) {
  const rpc::MethodTable::Method* m = table.Find(method);
  if (m == nullptr || !m->unary) {
    ADD_FAILURE() << "no unary method " << method << " in the table";
    return absl::UnimplementedError("no such method");
  }
  const tls::PeerIdentity peer;
  const rpc::CallInfo::Metadata metadata;
  rpc::DiscardResponseMetadata response_metadata;
  const rpc::CallInfo call{method,           principal, peer, metadata, absl::InfiniteFuture(),
                           response_metadata};
  grpc::ByteBuffer out;
  if (absl::Status s = m->unary(call, request, &out); !s.ok()) return s;
  return rpc::Parse(out, response);
}

inline absl::Status Call(const rpc::MethodTable& table, std::string_view method,
                         const google::protobuf::MessageLite& request,
                         google::protobuf::MessageLite* response,
                         const auth::Principal& principal = auth::Principal()) {
  return CallBuffer(table, method, rpc::ToBuffer(request), response, principal);
}

// Bytes that are no protobuf message: a length-delimited field 1 that claims 5 bytes and has 2.
inline grpc::ByteBuffer TruncatedMessage() {
  grpc::Slice slice(std::string{'\x0a', '\x05', 'a', 'b'});
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace nodegate::services::testing
