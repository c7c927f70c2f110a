// Descriptors parsed from .proto files on disk with protobuf's own compiler front end (libprotoc's
// SourceTreeDescriptorDatabase: the parser protoc uses), for nodes that do not serve reflection
// and for methods not yet deployed. Imports are found under the import paths, as protoc's -I;
// the well-known types (google/protobuf/*.proto) come from this binary when not on disk.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/descriptor_source.h"
#include "google/protobuf/compiler/importer.h"
#include "google/protobuf/descriptor_database.h"

namespace nodegate::client {

class ProtoFileSource : public DescriptorSource {
 public:
  // Parses `files` and everything they import. A file is named relative to an import path (as
  // protoc takes it) or by a path on disk inside one; `import_paths` empty means ".".
  // INVALID_ARGUMENT with every parse error as "file:line:col: message", or naming the file that
  // is not found and the import paths searched.
  static absl::StatusOr<std::unique_ptr<ProtoFileSource>> New(
      const std::vector<std::string>& files, const std::vector<std::string>& import_paths);

  absl::StatusOr<std::vector<std::string>> ListServices() override;
  const google::protobuf::DescriptorPool& pool() const override { return pool_; }
  absl::Status LookupStatus() const override { return absl::OkStatus(); }
  std::string Where() const override;

 private:
  class Errors : public google::protobuf::compiler::MultiFileErrorCollector {
   public:
    void AddError(const std::string& filename, int line, int column,
                  const std::string& message) override;
    std::vector<std::string> lines;
  };

  ProtoFileSource();

  google::protobuf::compiler::DiskSourceTree tree_;
  Errors errors_;
  google::protobuf::DescriptorPoolDatabase built_in_;  // this binary's well-known types
  google::protobuf::compiler::SourceTreeDescriptorDatabase database_;
  google::protobuf::DescriptorPool pool_;
  std::vector<const google::protobuf::FileDescriptor*> files_;  // as given, in pool_
};

}  // namespace nodegate::client
