// p2p/identity: the node's own key, kept in the data dir. Created on first use (so a
// cluster's member list can be written before its nodes first start) and never
// rewritten; a key file anyone but its owner may read is refused, not used.
#pragma once

#include <string>

#include "base/status/result.h"
#include "p2p/identity/keys.h"
#include "p2p/identity/peer_id.h"

namespace bzzz::p2p {

inline constexpr const char* kIdentityFileName = "identity.key";

struct Identity {
  PrivateKey key;
  PeerId peer_id;
  bool created = false;  // made by this call
};

// Reads DATA_DIR/identity.key (the libp2p PrivateKey protobuf, mode 0600), creating it
// (durably: temp file, fsync, rename, directory fsync) when there is none.
Result<Identity> load_or_create_identity(const std::string& data_dir);

}  // namespace bzzz::p2p
