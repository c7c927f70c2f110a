#include "client/descriptor_source.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace nodegate::client {

absl::StatusOr<const google::protobuf::ServiceDescriptor*> FindService(DescriptorSource& source,
                                                                       std::string_view name) {
  if (name.starts_with('.')) name.remove_prefix(1);
  const std::string full_name(name);
  const google::protobuf::ServiceDescriptor* service = source.pool().FindServiceByName(full_name);
  if (absl::Status s = source.LookupStatus(); !s.ok()) return s;
  if (service == nullptr) {
    return absl::NotFoundError(absl::StrCat("service ", full_name, " is not known to ",
                                            source.Where(),
                                            " (`nodegate list` shows the services)"));
  }
  return service;
}

absl::StatusOr<const google::protobuf::MethodDescriptor*> FindMethod(DescriptorSource& source,
                                                                     std::string_view name) {
  std::string_view path = name;
  if (path.starts_with('/')) path.remove_prefix(1);
  size_t cut = path.rfind('/');
  if (cut == std::string_view::npos) cut = path.rfind('.');
  if (cut == std::string_view::npos || cut == 0 || cut + 1 == path.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", std::string(name),
        "' is not a method name: give /package.Service/Method (or package.Service.Method)"));
  }
  const std::string service_name(path.substr(0, cut));
  const std::string method_name(path.substr(cut + 1));
  absl::StatusOr<const google::protobuf::ServiceDescriptor*> service =
      FindService(source, service_name);
  if (!service.ok()) return service.status();
  const google::protobuf::MethodDescriptor* method = (*service)->FindMethodByName(method_name);
  if (method == nullptr) {
    std::vector<std::string> names;
    names.reserve((*service)->method_count());
    for (int i = 0; i < (*service)->method_count(); ++i) {
      names.push_back((*service)->method(i)->name());
    }
    return absl::NotFoundError(absl::StrCat("service ", service_name, " has no method ",
                                            method_name, " (it has: ", absl::StrJoin(names, ", "),
                                            ")"));
  }
  return method;
}

std::string MethodPath(const google::protobuf::MethodDescriptor& method) {
  return absl::StrCat("/", method.service()->full_name(), "/", method.name());
}

}  // namespace nodegate::client
