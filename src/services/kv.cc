#include "services/kv.h"

#include <string>

namespace nodegate::services {
namespace {

using nodegate::v1::DeleteRequest;
using nodegate::v1::DeleteResponse;
using nodegate::v1::ExistsRequest;
using nodegate::v1::ExistsResponse;
using nodegate::v1::GetRequest;
using nodegate::v1::GetResponse;
using nodegate::v1::KeysRequest;
using nodegate::v1::KeysResponse;
using nodegate::v1::SetRequest;
using nodegate::v1::SetResponse;

absl::Status CheckKey(const std::string& key) {
  if (key.empty()) return absl::InvalidArgumentError("key: must not be empty");
  return absl::OkStatus();
}

}  // namespace

void KeyValueService::Register(rpc::MethodTable& table) {
  // Every method is a SQLite transaction (a Set waits for its fsync): off the core's thread.
  table.AddUnary<GetRequest, GetResponse>("/nodegate.v1.KeyValue/Get", rpc::Execution::kBlocking,
                                          [this](const rpc::CallInfo& c, const GetRequest& r,
                                                 GetResponse* out) { return Get(c, r, out); });
  table.AddUnary<SetRequest, SetResponse>("/nodegate.v1.KeyValue/Set", rpc::Execution::kBlocking,
                                          [this](const rpc::CallInfo& c, const SetRequest& r,
                                                 SetResponse* out) { return Set(c, r, out); });
  table.AddUnary<DeleteRequest, DeleteResponse>(
      "/nodegate.v1.KeyValue/Delete", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const DeleteRequest& r, DeleteResponse* out) {
        return Delete(c, r, out);
      });
  table.AddUnary<ExistsRequest, ExistsResponse>(
      "/nodegate.v1.KeyValue/Exists", rpc::Execution::kBlocking,
      [this](const rpc::CallInfo& c, const ExistsRequest& r, ExistsResponse* out) {
        return Exists(c, r, out);
      });
  table.AddUnary<KeysRequest, KeysResponse>("/nodegate.v1.KeyValue/Keys", rpc::Execution::kBlocking,
                                            [this](const rpc::CallInfo& c, const KeysRequest& r,
                                                   KeysResponse* out) { return Keys(c, r, out); });
}

// The store calls below are short SQLite transactions; a Set waits for its fsync (the durability
// promise), which is why it is not answered before the write is on disk.
absl::Status KeyValueService::Get(const rpc::CallInfo& /*call*/, const GetRequest& request,
                                  GetResponse* response) {
  if (absl::Status s = CheckKey(request.key()); !s.ok()) return s;
  absl::StatusOr<store::KvEntry> e = kv_->Get(request.key());
  if (!e.ok()) {
    if (absl::IsNotFound(e.status())) return absl::NotFoundError("key not found");
    return e.status();
  }
  response->set_value(std::move(e->value));
  response->set_content_type(std::move(e->content_type));
  response->set_updated_unix_ms(absl::ToUnixMillis(e->updated_at));
  return absl::OkStatus();
}

absl::Status KeyValueService::Set(const rpc::CallInfo& /*call*/, const SetRequest& request,
                                  SetResponse* /*response*/) {
  if (absl::Status s = CheckKey(request.key()); !s.ok()) return s;
  return kv_->Set(request.key(), request.value(), request.content_type());
}

absl::Status KeyValueService::Delete(const rpc::CallInfo& /*call*/, const DeleteRequest& request,
                                     DeleteResponse* /*response*/) {
  if (absl::Status s = CheckKey(request.key()); !s.ok()) return s;
  absl::Status st = kv_->Delete(request.key());
  if (absl::IsNotFound(st)) return absl::NotFoundError("key not found");
  return st;
}

absl::Status KeyValueService::Exists(const rpc::CallInfo& /*call*/, const ExistsRequest& request,
                                     ExistsResponse* response) {
  if (absl::Status s = CheckKey(request.key()); !s.ok()) return s;
  absl::StatusOr<bool> e = kv_->Exists(request.key());
  if (!e.ok()) return e.status();
  response->set_exists(*e);
  return absl::OkStatus();
}

absl::Status KeyValueService::Keys(const rpc::CallInfo& /*call*/, const KeysRequest& request,
                                   KeysResponse* response) {
  absl::StatusOr<store::KvKeyPage> page =
      kv_->Keys(request.prefix(), request.page_size(), request.page_token());
  if (!page.ok()) return page.status();
  for (std::string& k : page->keys) response->add_keys(std::move(k));
  response->set_next_page_token(std::move(page->next_page_token));
  return absl::OkStatus();
}

}  // namespace nodegate::services
