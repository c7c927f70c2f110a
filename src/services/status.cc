// Intentionally empty: the services return absl::Status and the server core maps it onto the wire,
// so the grpc::Status conversion and callback-reactor helpers that lived here are gone. Remove this
// file with its line in CMakeLists.txt.
