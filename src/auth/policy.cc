#include "auth/policy.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "auth/principal.h"
#include "nodegate/v1/options.pb.h"

namespace nodegate::auth {
namespace {

absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsIdentChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
}

// "/pkg.Service/" prefix of a method path, or empty when malformed.
std::string_view ServicePrefix(std::string_view method) {
  if (method.size() < 3 || method[0] != '/') return {};
  size_t slash = method.find('/', 1);
  if (slash == std::string_view::npos) return {};
  return method.substr(0, slash + 1);
}

}  // namespace

absl::Status ValidateRule(const Rule& r) {
  const std::string& p = r.pattern;
  size_t slash = p.size() > 1 ? p.find('/', 1) : std::string::npos;
  bool ok = p.size() > 3 && p[0] == '/' && slash != std::string::npos && slash > 1 &&
            slash + 1 < p.size();
  if (ok) {
    for (size_t i = 1; i < slash; ++i) ok = ok && IsIdentChar(p[i]);
    std::string_view m(p.data() + slash + 1, p.size() - slash - 1);
    if (m != "*") {
      for (char c : m) ok = ok && IsIdentChar(c) && c != '.';
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("method '", p, "' is not \"/pkg.Service/Method\" or \"/pkg.Service/*\""));
  }
  if (r.is_public && (r.authenticators != 0 || !r.roles.empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat("rule for ", p, ": public = true excludes authenticators and roles"));
  }
  for (const std::string& role : r.roles) {
    if (role.empty() || role.size() > 64 || role.find_first_of(", ") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("rule for ", p, ": bad role '", role, "'"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Rule>> RulesFromProtoOptions(const std::vector<std::string>& services) {
  std::vector<Rule> rules;
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* svc = pool->FindServiceByName(name);
    if (svc == nullptr) continue;
    for (int i = 0; i < svc->method_count(); ++i) {
      const google::protobuf::MethodDescriptor* m = svc->method(i);
      if (!m->options().HasExtension(nodegate::v1::auth)) continue;
      const nodegate::v1::AuthRule& opt = m->options().GetExtension(nodegate::v1::auth);
      Rule r;
      r.pattern = absl::StrCat("/", svc->full_name(), "/", m->name());
      r.is_public = opt.public_();
      for (const std::string& a : opt.authenticators()) {
        absl::StatusOr<uint32_t> bit = ParseAuthenticator(a);
        if (!bit.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("(nodegate.v1.auth) on ", r.pattern, ": ", bit.status().message()));
        }
        r.authenticators |= *bit;
      }
      r.roles.assign(opt.roles().begin(), opt.roles().end());
      r.source = "proto";
      if (absl::Status s = ValidateRule(r); !s.ok()) return s;
      rules.push_back(std::move(r));
    }
  }
  return rules;
}

absl::StatusOr<std::shared_ptr<const Policy>> Policy::Build(std::vector<Rule> config_rules,
                                                            std::vector<Rule> proto_rules) {
  std::shared_ptr<Policy> p(new Policy());
  for (Rule& r : config_rules) {
    r.source = "config";
    if (absl::Status s = ValidateRule(r); !s.ok()) return s;
    bool wildcard = r.pattern.size() >= 2 && r.pattern.substr(r.pattern.size() - 2) == "/*";
    auto& table = wildcard ? p->config_service_ : p->config_exact_;
    std::string key = wildcard ? r.pattern.substr(0, r.pattern.size() - 1) : r.pattern;
    if (!table.emplace(key, r).second) {
      return absl::InvalidArgumentError(absl::StrCat("two config rules for ", r.pattern));
    }
  }
  for (Rule& r : proto_rules) {
    r.source = "proto";
    p->proto_exact_.emplace(r.pattern, std::move(r));
  }
  // Load balancers and orchestrators probe health without credentials.
  Rule health;
  health.pattern = "/grpc.health.v1.Health/*";
  health.is_public = true;
  health.source = "builtin";
  p->builtin_service_.emplace("/grpc.health.v1.Health/", health);
  p->default_.pattern = "*";
  p->default_.source = "default";
  return std::shared_ptr<const Policy>(std::move(p));
}

const Rule& Policy::Resolve(std::string_view full_method) const {
  absl::string_view method = Absl(full_method);
  if (auto it = config_exact_.find(method); it != config_exact_.end()) return it->second;
  absl::string_view prefix = Absl(ServicePrefix(full_method));
  if (!prefix.empty()) {
    if (auto it = config_service_.find(prefix); it != config_service_.end()) return it->second;
  }
  if (auto it = proto_exact_.find(method); it != proto_exact_.end()) return it->second;
  if (!prefix.empty()) {
    if (auto it = builtin_service_.find(prefix); it != builtin_service_.end()) return it->second;
  }
  return default_;
}

std::vector<Policy::Row> Policy::Table(const std::vector<std::string>& services) const {
  std::set<std::string> methods;
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const std::string& name : services) {
    const google::protobuf::ServiceDescriptor* svc = pool->FindServiceByName(name);
    if (svc == nullptr) continue;
    for (int i = 0; i < svc->method_count(); ++i) {
      methods.insert(absl::StrCat("/", svc->full_name(), "/", svc->method(i)->name()));
    }
  }
  for (const auto& [k, r] : config_exact_) methods.insert(r.pattern);
  for (const auto& [k, r] : config_service_) methods.insert(r.pattern);
  for (const auto& [k, r] : builtin_service_) methods.insert(r.pattern);
  std::vector<Row> rows;
  for (const std::string& m : methods) {
    const Rule* rule = nullptr;
    if (m.size() >= 2 && m.substr(m.size() - 2) == "/*") {
      const std::string prefix = m.substr(0, m.size() - 1);
      auto it = config_service_.find(prefix);
      rule = it != config_service_.end() ? &it->second : &builtin_service_.at(prefix);
    } else {
      rule = &Resolve(m);
    }
    rows.push_back({m, rule});
  }
  return rows;
}

}  // namespace nodegate::auth
