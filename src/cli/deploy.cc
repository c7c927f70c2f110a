// nodegate deploy nginx: render the nginx front for a node.
#include <iostream>

#include "base/files.h"
#include "cli/commands.h"
#include "deploy/nginx.h"
#include "server/config.h"

namespace nodegate::cli {

void AddDeployCommand(CLI::App& app) {
  auto* deploy = app.add_subcommand("deploy", "Render deployment files from a node config.");
  deploy->require_subcommand(1);
  auto* nginx = deploy->add_subcommand(
      "nginx",
      "Render an nginx config: mTLS at nginx (ssl_verify_client on), grpc_pass to the node\n"
      "(grpcs with nginx's own client certificate, or h2c to grpc.local_listen), the verified\n"
      "client certificate forwarded in auth.forwarded.header, underscores_in_headers on.\n"
      "With --replica (repeated) the upstream spreads calls over several replicas of the node\n"
      "(same node.id and store.url; docs/deploy.md \"Fleet\"); without it, the one address in\n"
      "the config.");
  auto config = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto o = std::make_shared<deploy::NginxOptions>();
  auto underscores = std::make_shared<std::string>("on");
  nginx->add_option("--config,-c", *config, "Node config (TOML)")->required();
  nginx->add_option("--listen", o->listen, "nginx's listen address")->capture_default_str();
  nginx
      ->add_option("--backend", o->backend,
                   "How nginx reaches the node: grpcs (its grpc.listen, with --proxy-cert) | h2c "
                   "(its grpc.local_listen, loopback only)")
      ->capture_default_str();
  nginx
      ->add_option("--replica", o->replicas,
                   "HOST:PORT of one replica's grpc.listen (grpcs) or grpc.local_listen (h2c, "
                   "loopback); repeat for each replica (default: the address in --config)")
      ->type_name("HOST:PORT")
      ->take_all()
      ->allow_extra_args(false);
  nginx->add_option("--server-cert", o->server_cert, "nginx's certificate (default: tls.cert)");
  nginx->add_option("--server-key", o->server_key, "nginx's key (default: tls.key)");
  nginx->add_option("--proxy-cert", o->proxy_cert, "nginx's client certificate (grpcs)");
  nginx->add_option("--proxy-key", o->proxy_key, "nginx's client key (grpcs)");
  nginx
      ->add_option("--backend-name", o->backend_name,
                   "Name nginx checks on the node's certificate (grpcs; on every replica's)")
      ->capture_default_str();
  nginx->add_option("--underscores", *underscores, "underscores_in_headers: on | off")
      ->capture_default_str();
  nginx->add_flag("--standalone", o->standalone,
                  "A complete nginx.conf (daemon off, pid/logs/temp under --prefix)");
  nginx->add_option("--prefix", o->prefix, "Directory for pid, logs and temp files (standalone)");
  nginx->add_option("--out,-o", *out, "Write to this file (default: stdout)");
  nginx->callback([config, out, o, underscores] {
    if (*underscores != "on" && *underscores != "off")
      Fail("deploy nginx", "--underscores: on|off", 2);
    o->underscores_in_headers = *underscores == "on";
    absl::StatusOr<server::NodeConfig> c = server::LoadNodeConfig(*config);
    if (!c.ok()) Fail("deploy nginx", std::string(c.status().message()), 2);
    absl::StatusOr<std::string> text = deploy::RenderNginx(*c, *o);
    if (!text.ok()) Fail("deploy nginx", std::string(text.status().message()));
    if (out->empty()) {
      std::cout << *text;
    } else if (absl::Status s = base::WriteFileAtomic(*out, *text, 0644); !s.ok()) {
      Fail("deploy nginx", std::string(s.message()));
    }
  });
}

}  // namespace nodegate::cli
