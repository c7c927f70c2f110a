// nodegate token create|list|revoke and nodegate appkey create|list|disable. Every change waits
// until the running node has loaded it (store_access.h, AwaitNode).
#include <iostream>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "auth/credential_admin.h"
#include "cli/commands.h"
#include "cli/store_access.h"
#include "crypto/digest.h"
#include "nlohmann/json.hpp"

namespace nodegate::cli {
namespace {

std::string Time(absl::Time t) {
  if (t == absl::InfiniteFuture()) return "never";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

nlohmann::json TimeOrNull(absl::Time t) {
  return t == absl::InfiniteFuture() ? nlohmann::json(nullptr) : nlohmann::json(Time(t));
}

}  // namespace

void AddTokenCommands(CLI::App& app) {
  auto flags = std::make_shared<StoreFlags>();
  auto* token = app.add_subcommand(
      "token", "Access tokens (authorization: Bearer <t> or access-token: <t>).");
  token->require_subcommand(1);

  auto* create = token->add_subcommand(
      "create", "Create a token; it is printed once and only its SHA-256 is stored.");
  auto t = std::make_shared<std::tuple<std::string, std::string, std::string, std::string>>(
      "", "user", "", "0s");
  AddStoreFlags(create, flags.get());
  create->add_option("--principal", std::get<0>(*t), "Who the token stands for")->required();
  create->add_option("--kind", std::get<1>(*t), "user | node | app")->capture_default_str();
  create->add_option("--roles", std::get<2>(*t), "Comma-separated roles");
  create->add_option("--ttl", std::get<3>(*t), "Lifetime such as 24h; 0s = never expires")
      ->capture_default_str();
  AddWaitFlags(create, flags.get());
  create->callback([flags, t] {
    auto& [principal, kind, roles, ttl_text] = *t;
    absl::Duration ttl;
    if (!absl::ParseDuration(ttl_text, &ttl) || ttl < absl::ZeroDuration()) {
      Fail("token create", "--ttl: '" + ttl_text + "' is not a duration such as 24h", 2);
    }
    if (kind != "user" && kind != "node" && kind != "app") {
      Fail("token create", "--kind: must be user, node or app", 2);
    }
    store::Stores s = OpenStores(*flags, "token create");
    absl::StatusOr<auth::IssuedToken> issued =
        auth::IssueAccessToken(*s.credentials, principal, kind, SplitList(roles), ttl);
    if (!issued.ok()) Fail("token create", std::string(issued.status().message()));
    std::cerr << "token for " << kind << ":" << principal << " (roles "
              << absl::StrJoin(issued->record.roles, ",") << ", expires "
              << Time(issued->record.expires_at)
              << "); store it now, it is not shown again:" << std::endl;
    std::cout << issued->token << std::endl;
    AwaitNode(*flags, s, "token create");
  });

  auto* list = token->add_subcommand("list", "List tokens (hash prefix, principal, expiry).");
  AddStoreFlags(list, flags.get());
  auto output = std::make_shared<std::string>("text");
  AddOutputFlag(list, output.get());
  list->callback([flags, output] {
    store::Stores s = OpenStores(*flags, "token list");
    auto tokens = s.credentials->ListAccessTokens();
    if (!tokens.ok()) Fail("token list", std::string(tokens.status().message()));
    if (*output == "json") {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& x : *tokens) {
        out.push_back({{"hash_prefix", x.token_hash.substr(0, 16)},
                       {"kind", x.kind},
                       {"principal", x.principal},
                       {"roles", x.roles},
                       {"expires_at", TimeOrNull(x.expires_at)}});
      }
      std::cout << nlohmann::json{{"tokens", out}}.dump(2) << std::endl;
      return;
    }
    std::cout << "HASH\tPRINCIPAL\tROLES\tEXPIRES\n";
    for (const auto& x : *tokens) {
      std::cout << x.token_hash.substr(0, 16) << "\t" << x.kind << ":" << x.principal << "\t"
                << absl::StrJoin(x.roles, ",") << "\t" << Time(x.expires_at) << "\n";
    }
    std::cout << std::flush;
  });

  auto secret = std::make_shared<std::string>();
  auto* revoke = token->add_subcommand("revoke", "Revoke a token (give the token itself).");
  AddStoreFlags(revoke, flags.get());
  revoke->add_option("--token", *secret, "The token to revoke")->required();
  AddWaitFlags(revoke, flags.get());
  revoke->callback([flags, secret] {
    store::Stores s = OpenStores(*flags, "token revoke");
    absl::Status st = s.credentials->RevokeAccessToken(crypto::Sha256Hex(*secret));
    if (!st.ok()) Fail("token revoke", std::string(st.message()));
    std::cout << "revoked" << std::endl;
    AwaitNode(*flags, s, "token revoke");
  });

  auto* appkey = app.add_subcommand(
      "appkey", "App keys (app-key + app-secret, or the seed's app_key + app_secret).");
  appkey->require_subcommand(1);
  auto* acreate = appkey->add_subcommand(
      "create", "Create an app key; the secret is printed once and only its SHA-256 is stored.");
  auto k = std::make_shared<std::tuple<std::string, std::string, std::string>>();
  AddStoreFlags(acreate, flags.get());
  acreate->add_option("--principal", std::get<0>(*k), "The application's name")->required();
  acreate->add_option("--app-key", std::get<1>(*k), "Key id (default: random ngk_…)");
  acreate->add_option("--roles", std::get<2>(*k), "Comma-separated roles");
  AddWaitFlags(acreate, flags.get());
  acreate->callback([flags, k] {
    auto& [principal, key, roles] = *k;
    store::Stores s = OpenStores(*flags, "appkey create");
    absl::StatusOr<auth::IssuedAppKey> issued =
        auth::IssueAppKey(*s.credentials, key, principal, SplitList(roles));
    if (!issued.ok()) Fail("appkey create", std::string(issued.status().message()));
    std::cerr << "app key for app:" << principal << "; store the secret now, it is not shown again"
              << std::endl;
    std::cout << "app_key=" << issued->app_key << "\napp_secret=" << issued->app_secret
              << std::endl;
    AwaitNode(*flags, s, "appkey create");
  });
  auto* alist = appkey->add_subcommand("list", "List app keys.");
  AddStoreFlags(alist, flags.get());
  AddOutputFlag(alist, output.get());
  alist->callback([flags, output] {
    store::Stores s = OpenStores(*flags, "appkey list");
    auto keys = s.credentials->ListAppKeys();
    if (!keys.ok()) Fail("appkey list", std::string(keys.status().message()));
    if (*output == "json") {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& x : *keys) {
        out.push_back({{"app_key", x.app_key},
                       {"principal", x.principal},
                       {"roles", x.roles},
                       {"enabled", x.enabled}});
      }
      std::cout << nlohmann::json{{"app_keys", out}}.dump(2) << std::endl;
      return;
    }
    std::cout << "APP_KEY\tPRINCIPAL\tROLES\tENABLED\n";
    for (const auto& x : *keys) {
      std::cout << x.app_key << "\t" << x.principal << "\t" << absl::StrJoin(x.roles, ",") << "\t"
                << (x.enabled ? "yes" : "no") << "\n";
    }
    std::cout << std::flush;
  });
  auto key_id = std::make_shared<std::string>();
  auto* adisable = appkey->add_subcommand("disable", "Disable an app key.");
  AddStoreFlags(adisable, flags.get());
  adisable->add_option("--app-key", *key_id, "Key id")->required();
  AddWaitFlags(adisable, flags.get());
  adisable->callback([flags, key_id] {
    store::Stores s = OpenStores(*flags, "appkey disable");
    absl::Status st = s.credentials->DisableAppKey(*key_id);
    if (!st.ok()) Fail("appkey disable", std::string(st.message()));
    std::cout << "disabled " << *key_id << std::endl;
    AwaitNode(*flags, s, "appkey disable");
  });
}

}  // namespace nodegate::cli
