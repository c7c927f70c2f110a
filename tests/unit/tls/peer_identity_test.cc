#include "tls/peer_identity.h"

#include <gtest/gtest.h>

namespace nodegate::tls {
namespace {

TEST(PeerIdentityTest, NullContextIsUnauthenticated) {
  PeerIdentity id = PeerIdentityFrom(nullptr);
  EXPECT_FALSE(id.authenticated);
  EXPECT_EQ(id.common_name, "");
  EXPECT_EQ(id.spiffe_id, "");
}

}  // namespace
}  // namespace nodegate::tls
