#include "client/proto_file_source.h"

#include <algorithm>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/zero_copy_stream.h"

namespace nodegate::client {

void ProtoFileSource::Errors::AddError(const std::string& filename, int line, int column,
                                       const std::string& message) {
  // line and column are 0-based here; -1 when the error is about the whole file.
  if (line < 0) {
    lines.push_back(absl::StrCat(filename, ": ", message));
  } else {
    lines.push_back(absl::StrCat(filename, ":", line + 1, ":", column + 1, ": ", message));
  }
}

ProtoFileSource::ProtoFileSource()
    : built_in_(*google::protobuf::DescriptorPool::generated_pool()),
      database_(&tree_, &built_in_),
      pool_(&database_, database_.GetValidationErrorCollector()) {
  database_.RecordErrorsTo(&errors_);
}

absl::StatusOr<std::unique_ptr<ProtoFileSource>> ProtoFileSource::New(
    const std::vector<std::string>& files, const std::vector<std::string>& import_paths) {
  if (files.empty()) return absl::InvalidArgumentError("--proto: no file given");
  std::unique_ptr<ProtoFileSource> source(new ProtoFileSource());
  std::vector<std::string> paths =
      import_paths.empty() ? std::vector<std::string>{"."} : import_paths;
  for (const std::string& path : paths) {
    if (!std::filesystem::is_directory(path)) {
      return absl::InvalidArgumentError(absl::StrCat("--import-path ", path, ": not a directory"));
    }
    source->tree_.MapPath("", path);
  }
  for (const std::string& file : files) {
    // A path on disk inside an import path becomes the name protoc would give it; anything
    // else is taken as that name already (relative to an import path).
    std::string name = file;
    std::string virtual_name, shadowing;
    if (std::filesystem::exists(file) &&
        source->tree_.DiskFileToVirtualFile(file, &virtual_name, &shadowing) ==
            google::protobuf::compiler::DiskSourceTree::SUCCESS) {
      name = virtual_name;
    }
    // Only the imports may come from this binary's own copies (the well-known types): a file
    // asked for by name must be on disk.
    if (std::unique_ptr<google::protobuf::io::ZeroCopyInputStream>(source->tree_.Open(name)) ==
        nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--proto ", file, ": not found under the import paths (", absl::StrJoin(paths, ", "),
          "); name it relative to an --import-path, or give the directory it is in as one"));
    }
    const google::protobuf::FileDescriptor* fd = source->pool_.FindFileByName(name);
    if (fd == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--proto ", file, ":\n  ", absl::StrJoin(source->errors_.lines, "\n  ")));
    }
    source->files_.push_back(fd);
  }
  return source;
}

absl::StatusOr<std::vector<std::string>> ProtoFileSource::ListServices() {
  std::vector<std::string> names;
  for (const google::protobuf::FileDescriptor* file : files_) {
    for (int i = 0; i < file->service_count(); ++i) names.push_back(file->service(i)->full_name());
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string ProtoFileSource::Where() const {
  std::vector<std::string> names;
  for (const google::protobuf::FileDescriptor* file : files_) names.push_back(file->name());
  return absl::StrCat("--proto ", absl::StrJoin(names, ", "));
}

}  // namespace nodegate::client
