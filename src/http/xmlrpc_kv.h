// The seed's KeyValueServer as XML-RPC methods over the node's KeyValue store, independent of any
// transport: Handle() takes a methodCall document and returns a methodResponse document.
//
//   get(key)          → the value, typed as it was set (see xmlrpc_value_codec.h)
//   set(key, value)   → nil
//   delete(key)       → nil
//   exists(key)       → boolean
//   keys([prefix])    → array of strings, ascending
//
// A missing key is the fault the seed's SimpleXMLRPCServer sends for its KeyError:
// faultCode 1, faultString "<class 'KeyError'>:'the-key'". Other store errors are faultCode 1 with
// "<class 'ValueError'>:…" (a key or value over its limit) or "<class 'RuntimeError'>:…".
// Malformed XML, unknown methods and wrong parameter types are faults from xmlrpc-c's registry;
// nothing here throws out of Handle().
#pragma once

#include <memory>
#include <string>
#include <xmlrpc-c/registry.hpp>

#include "absl/status/statusor.h"
#include "store/kv_store.h"

namespace nodegate::http {

class XmlRpcKv {
 public:
  static absl::StatusOr<std::unique_ptr<XmlRpcKv>> New(std::shared_ptr<store::KvStore> kv);

  // Never throws; a malformed call gets a fault response.
  std::string Handle(const std::string& call_xml) const;

 private:
  explicit XmlRpcKv(std::shared_ptr<store::KvStore> kv);
  std::shared_ptr<store::KvStore> kv_;
  xmlrpc_c::registry registry_;
};

// Raises xmlrpc-c's process-wide XML size limit (default 512 KiB) to at least `bytes`, so that the
// HTTP layer's request bound is the one that applies.
void RaiseXmlSizeLimit(size_t bytes);

}  // namespace nodegate::http
