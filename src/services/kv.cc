#include "services/kv.h"

#include "services/status.h"

namespace nodegate::services {
namespace {

grpc::Status CheckKey(const std::string& key) {
  if (key.empty()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "key: must not be empty");
  return grpc::Status::OK;
}

}  // namespace

// The store calls below are short SQLite transactions; a Set waits for its fsync (the durability
// promise), which is why it is not answered before the write is on disk.
grpc::ServerUnaryReactor* KeyValueService::Get(grpc::CallbackServerContext* context,
                                               const nodegate::v1::GetRequest* request,
                                               nodegate::v1::GetResponse* response) {
  if (grpc::Status s = CheckKey(request->key()); !s.ok()) return Finish(context, s);
  absl::StatusOr<store::KvEntry> e = kv_->Get(request->key());
  if (!e.ok()) {
    if (absl::IsNotFound(e.status())) {
      return Finish(context, grpc::Status(grpc::StatusCode::NOT_FOUND, "key not found"));
    }
    return Finish(context, ToGrpc(e.status()));
  }
  response->set_value(std::move(e->value));
  response->set_content_type(std::move(e->content_type));
  response->set_updated_unix_ms(absl::ToUnixMillis(e->updated_at));
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* KeyValueService::Set(grpc::CallbackServerContext* context,
                                               const nodegate::v1::SetRequest* request,
                                               nodegate::v1::SetResponse*) {
  if (grpc::Status s = CheckKey(request->key()); !s.ok()) return Finish(context, s);
  return Finish(context, ToGrpc(kv_->Set(request->key(), request->value(), request->content_type())));
}

grpc::ServerUnaryReactor* KeyValueService::Delete(grpc::CallbackServerContext* context,
                                                  const nodegate::v1::DeleteRequest* request,
                                                  nodegate::v1::DeleteResponse*) {
  if (grpc::Status s = CheckKey(request->key()); !s.ok()) return Finish(context, s);
  absl::Status st = kv_->Delete(request->key());
  if (absl::IsNotFound(st)) {
    return Finish(context, grpc::Status(grpc::StatusCode::NOT_FOUND, "key not found"));
  }
  return Finish(context, ToGrpc(st));
}

grpc::ServerUnaryReactor* KeyValueService::Exists(grpc::CallbackServerContext* context,
                                                  const nodegate::v1::ExistsRequest* request,
                                                  nodegate::v1::ExistsResponse* response) {
  if (grpc::Status s = CheckKey(request->key()); !s.ok()) return Finish(context, s);
  absl::StatusOr<bool> e = kv_->Exists(request->key());
  if (!e.ok()) return Finish(context, ToGrpc(e.status()));
  response->set_exists(*e);
  return Finish(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* KeyValueService::Keys(grpc::CallbackServerContext* context,
                                                const nodegate::v1::KeysRequest* request,
                                                nodegate::v1::KeysResponse* response) {
  absl::StatusOr<store::KvKeyPage> page =
      kv_->Keys(request->prefix(), request->page_size(), request->page_token());
  if (!page.ok()) return Finish(context, ToGrpc(page.status()));
  for (std::string& k : page->keys) response->add_keys(std::move(k));
  response->set_next_page_token(std::move(page->next_page_token));
  return Finish(context, grpc::Status::OK);
}

}  // namespace nodegate::services
