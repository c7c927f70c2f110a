// nodegate list [SERVICE]: the services a node serves (its reflection service, or --proto files),
// or the methods of one, one name per line, as grpcurl's `list`.
#include <iostream>

#include "cli/commands.h"
#include "cli/descriptor_flags.h"
#include "client/describe.h"

namespace nodegate::cli {

void AddListCommand(CLI::App& app) {
  auto flags = std::make_shared<DescriptorFlags>();
  auto service = std::make_shared<std::string>();
  auto* list = app.add_subcommand(
      "list",
      "List the services of a node (over its reflection service, or from --proto files), or the\n"
      "methods of SERVICE, one per line.");
  list->add_option("service", *service, "A service's full name, e.g. api.DiceService");
  AddDescriptorFlags(list, flags.get());
  list->callback([flags, service] {
    Session session = OpenSession(*flags, "list");
    absl::StatusOr<std::vector<std::string>> names =
        service->empty() ? session.source->ListServices()
                         : client::ListMethods(*session.source, *service);
    if (!names.ok()) FailStatus("list", names.status(), flags->client);
    for (const std::string& name : *names) std::cout << name << '\n';
    std::cout.flush();
  });
}

}  // namespace nodegate::cli
