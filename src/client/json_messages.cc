#include "client/json_messages.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace nodegate::client {

absl::StatusOr<std::vector<std::string>> SplitJsonValues(std::string_view text) {
  std::vector<std::string> values;
  size_t start = 0;  // where the value being scanned began
  int depth = 0;
  bool in_value = false, in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
        if (depth == 0) {  // a bare string value ends here
          values.emplace_back(text.substr(start, i + 1 - start));
          in_value = false;
        }
      }
      continue;
    }
    const bool blank = absl::ascii_isspace(static_cast<unsigned char>(c));
    if (!in_value) {
      if (blank) continue;
      in_value = true;
      start = i;
    } else if (depth == 0 && (blank || c == '{' || c == '[' || c == '"')) {
      // The end of a bare scalar (number, true, false, null) at the top level.
      values.emplace_back(text.substr(start, i - start));
      in_value = !blank;
      start = i;
      if (blank) continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("JSON: unexpected '", std::string(1, c), "' at byte ", i));
      }
      if (--depth == 0) {
        values.emplace_back(text.substr(start, i + 1 - start));
        in_value = false;
      }
    }
  }
  if (in_string) {
    return absl::InvalidArgumentError(absl::StrCat(
        "JSON: the string that starts in the value at byte ", start, " is not closed"));
  }
  if (depth > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON: the value that starts at byte ", start, " is not closed (", depth,
                     depth == 1 ? " bracket" : " brackets", " open at the end of the input)"));
  }
  if (in_value) values.emplace_back(text.substr(start));
  return values;
}

absl::StatusOr<std::vector<std::unique_ptr<google::protobuf::Message>>> ParseJsonMessages(
    const google::protobuf::Descriptor& type, std::string_view text,
    google::protobuf::MessageFactory& factory) {
  absl::StatusOr<std::vector<std::string>> values = SplitJsonValues(text);
  if (!values.ok()) return values.status();
  const google::protobuf::Message* prototype = factory.GetPrototype(&type);
  if (prototype == nullptr) {
    return absl::InternalError(absl::StrCat("no message factory for ", type.full_name()));
  }
  std::vector<std::unique_ptr<google::protobuf::Message>> messages;
  for (size_t i = 0; i < values->size(); ++i) {
    std::unique_ptr<google::protobuf::Message> message(prototype->New());
    const auto status = google::protobuf::util::JsonStringToMessage((*values)[i], message.get());
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("request ", i + 1, " (", type.full_name(),
                                                     "): ", status.message().as_string()));
    }
    messages.push_back(std::move(message));
  }
  return messages;
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message,
                                   const JsonOutput& output) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = output.multiline;
  options.always_print_primitive_fields = output.emit_defaults;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat(message.GetDescriptor()->full_name(),
                                            " as JSON: ", status.message().as_string()));
  }
  if (output.multiline && !json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

}  // namespace nodegate::client
