#include "rpc/method_table.h"

#include <algorithm>

namespace nodegate::rpc {

void MethodTable::AddStream(std::string method, StreamFn fn, bool finish_on_half_close) {
  Method m;
  m.name = std::move(method);
  m.execution = Execution::kInline;
  m.stream = std::move(fn);
  m.finish_on_half_close = finish_on_half_close;
  Add(std::move(m));
}

void MethodTable::AddStreamHandler(std::string method,
                                   std::function<std::unique_ptr<StreamHandler>()> factory) {
  Method m;
  m.name = std::move(method);
  m.execution = Execution::kInline;
  m.stream_handler = std::move(factory);
  Add(std::move(m));
}

void MethodTable::Add(Method m) {
  std::string name = m.name;
  methods_[name] = std::make_unique<Method>(std::move(m));
}

const MethodTable::Method* MethodTable::Find(std::string_view method) const {
  // Debian's Abseil has its own string_view (store/absl_view.h).
  auto it = methods_.find(absl::string_view(method.data(), method.size()));
  return it == methods_.end() ? nullptr : it->second.get();
}

std::vector<std::string> MethodTable::Names() const {
  std::vector<std::string> names;
  names.reserve(methods_.size());
  for (const auto& [name, method] : methods_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace nodegate::rpc
