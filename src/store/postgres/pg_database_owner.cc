#include "store/postgres/pg_database_owner.h"

#include "absl/strings/str_cat.h"
#include "store/absl_view.h"
#include "store/codec.h"

namespace nodegate::store {

absl::Status ClaimPgDatabase(PgConnection& connection, std::string_view node_id, absl::Time now) {
  if (node_id.empty()) {
    return absl::InvalidArgumentError("store: postgres: claiming a database needs a node id");
  }
  // Two statements in autocommit, not one: an INSERT that meets a concurrent claim waits for it to
  // commit and then does nothing, and only a statement that starts after that (READ COMMITTED)
  // sees the winner's row.
  absl::StatusOr<PgResult> insert = connection.Execute(
      "INSERT INTO database_owner (id, node_id, claimed_at) VALUES (1, $1, $2) "
      "ON CONFLICT (id) DO NOTHING",
      PgParams().Text(node_id).Int(EncodeTime(now)));
  if (!insert.ok()) return insert.status();
  absl::StatusOr<PgResult> owner =
      connection.Execute("SELECT node_id, current_schema() FROM database_owner WHERE id = 1");
  if (!owner.ok()) return owner.status();
  if (owner->rows() != 1) {
    return absl::InternalError(absl::StrCat("store: postgres ", connection.target(),
                                            ": database_owner has no row after claiming it"));
  }
  const std::string recorded = owner->Bytes(0, 0);
  if (recorded == node_id) return absl::OkStatus();
  const std::string schema = owner->IsNull(0, 1) ? "" : owner->Bytes(0, 1);
  return absl::FailedPreconditionError(absl::StrCat(
      "database ", connection.target(),
      schema.empty() || schema == "public" ? "" : absl::StrCat(" (schema ", schema, ")"),
      " belongs to node '", recorded, "', not to node.id '", AbslView(node_id),
      "': the replicas of one node share node.id and store.url, and a replica under another id "
      "would split the fleet. To join that fleet set node.id = \"",
      recorded,
      "\"; for a node of its own give store.url another database (docs/deploy.md, Fleet)"));
}

}  // namespace nodegate::store
