#include "client/describe.h"

#include "absl/strings/str_cat.h"

namespace nodegate::client {
namespace {

std::string Described(const std::string& name, const char* kind, const std::string& text) {
  std::string out = absl::StrCat(name, " is ", kind, ":\n", text);
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ListMethods(DescriptorSource& source,
                                                     std::string_view service) {
  absl::StatusOr<const google::protobuf::ServiceDescriptor*> found = FindService(source, service);
  if (!found.ok()) return found.status();
  std::vector<std::string> methods;
  methods.reserve((*found)->method_count());
  for (int i = 0; i < (*found)->method_count(); ++i) {
    methods.push_back((*found)->method(i)->full_name());
  }
  return methods;
}

absl::StatusOr<std::string> Describe(DescriptorSource& source, std::string_view symbol) {
  if (symbol.starts_with('.')) symbol.remove_prefix(1);
  const std::string name(symbol);
  const google::protobuf::DescriptorPool& pool = source.pool();
  // Each lookup may ask the node (reflection); a failed stream fails the rest the same way, so
  // the status is checked once the first lookup has run.
  if (const auto* s = pool.FindServiceByName(name)) {
    return Described(name, "a service", s->DebugString());
  }
  if (absl::Status st = source.LookupStatus(); !st.ok()) return st;
  if (const auto* m = pool.FindMessageTypeByName(name)) {
    return Described(name, "a message", m->DebugString());
  }
  if (const auto* e = pool.FindEnumTypeByName(name)) {
    return Described(name, "an enum", e->DebugString());
  }
  if (const auto* m = pool.FindMethodByName(name)) {
    return Described(name, "a method", m->DebugString());
  }
  if (const auto* f = pool.FindFieldByName(name)) {
    return Described(name, "a field", f->DebugString());
  }
  if (const auto* v = pool.FindEnumValueByName(name)) {
    return Described(name, "an enum value", v->DebugString());
  }
  if (const auto* x = pool.FindExtensionByName(name)) {
    return Described(name, "an extension", x->DebugString());
  }
  if (absl::Status st = source.LookupStatus(); !st.ok()) return st;
  return absl::NotFoundError(absl::StrCat("symbol ", name, " is not known to ", source.Where(),
                                          " (`nodegate list` shows the services)"));
}

}  // namespace nodegate::client
