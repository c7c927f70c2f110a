// nodegate.v1.KeyValue over the node's durable KvStore.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "nodegate/v1/kv.pb.h"
#include "rpc/method_table.h"
#include "store/kv_store.h"

namespace nodegate::services {

class KeyValueService {
 public:
  explicit KeyValueService(std::shared_ptr<store::KvStore> kv) : kv_(std::move(kv)) {}

  // Adds nodegate.v1.KeyValue's methods to `table`.
  void Register(rpc::MethodTable& table);

  absl::Status Get(const rpc::CallInfo& call, const nodegate::v1::GetRequest& request,
                   nodegate::v1::GetResponse* response);
  absl::Status Set(const rpc::CallInfo& call, const nodegate::v1::SetRequest& request,
                   nodegate::v1::SetResponse* response);
  absl::Status Delete(const rpc::CallInfo& call, const nodegate::v1::DeleteRequest& request,
                      nodegate::v1::DeleteResponse* response);
  absl::Status Exists(const rpc::CallInfo& call, const nodegate::v1::ExistsRequest& request,
                      nodegate::v1::ExistsResponse* response);
  absl::Status Keys(const rpc::CallInfo& call, const nodegate::v1::KeysRequest& request,
                    nodegate::v1::KeysResponse* response);

 private:
  std::shared_ptr<store::KvStore> kv_;
};

}  // namespace nodegate::services
