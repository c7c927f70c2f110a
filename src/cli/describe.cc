// nodegate describe [SYMBOL]: a service, method, message, enum or field in .proto syntax, from the
// node's reflection service (or --proto files), as grpcurl's `describe`; no SYMBOL describes every
// service.
#include "client/describe.h"

#include <iostream>

#include "cli/commands.h"
#include "cli/descriptor_flags.h"

namespace nodegate::cli {

void AddDescribeCommand(CLI::App& app) {
  auto flags = std::make_shared<DescriptorFlags>();
  auto symbol = std::make_shared<std::string>();
  auto* describe = app.add_subcommand(
      "describe",
      "Print the definition of SYMBOL (a service, method, message, enum or field, by full name)\n"
      "as \"SYMBOL is a KIND:\" and .proto text; without SYMBOL, every service.");
  describe->add_option("symbol", *symbol, "Full name, e.g. api.DiceService or api.RollDieResponse");
  AddDescriptorFlags(describe, flags.get());
  describe->callback([flags, symbol] {
    Session session = OpenSession(*flags, "describe");
    std::vector<std::string> symbols;
    if (symbol->empty()) {
      absl::StatusOr<std::vector<std::string>> services = session.source->ListServices();
      if (!services.ok()) FailStatus("describe", services.status(), flags->client);
      symbols = *std::move(services);
    } else {
      symbols.push_back(*symbol);
    }
    for (const std::string& name : symbols) {
      absl::StatusOr<std::string> text = client::Describe(*session.source, name);
      if (!text.ok()) FailStatus("describe", text.status(), flags->client);
      std::cout << *text;
    }
    std::cout.flush();
  });
}

}  // namespace nodegate::cli
