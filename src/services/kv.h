// nodegate.v1.KeyValue over the node's durable KvStore.
#pragma once

#include <memory>

#include "nodegate/v1/kv.grpc.pb.h"
#include "store/kv_store.h"

namespace nodegate::services {

class KeyValueService final : public nodegate::v1::KeyValue::CallbackService {
 public:
  explicit KeyValueService(std::shared_ptr<store::KvStore> kv) : kv_(std::move(kv)) {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const nodegate::v1::GetRequest* request,
                                nodegate::v1::GetResponse* response) override;
  grpc::ServerUnaryReactor* Set(grpc::CallbackServerContext* context,
                                const nodegate::v1::SetRequest* request,
                                nodegate::v1::SetResponse* response) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* context,
                                   const nodegate::v1::DeleteRequest* request,
                                   nodegate::v1::DeleteResponse* response) override;
  grpc::ServerUnaryReactor* Exists(grpc::CallbackServerContext* context,
                                   const nodegate::v1::ExistsRequest* request,
                                   nodegate::v1::ExistsResponse* response) override;
  grpc::ServerUnaryReactor* Keys(grpc::CallbackServerContext* context,
                                 const nodegate::v1::KeysRequest* request,
                                 nodegate::v1::KeysResponse* response) override;

 private:
  std::shared_ptr<store::KvStore> kv_;
};

}  // namespace nodegate::services
