#include "http/xmlrpc_kv.h"

#include <xmlrpc-c/base.h>

#include <functional>
#include <xmlrpc-c/girerr.hpp>
#include <xmlrpc-c/xml.hpp>

#include "absl/strings/str_cat.h"
#include "http/xml_guard.h"
#include "http/xmlrpc_value_codec.h"

namespace nodegate::http {
namespace {

using Fn = std::function<void(const xmlrpc_c::paramList&, xmlrpc_c::value*)>;

class FnMethod : public xmlrpc_c::method {
 public:
  // The signature stays xmlrpc-c's "?" (unknown): set() takes any type, which its signature
  // syntax cannot say.
  FnMethod(std::string help, Fn fn) : fn_(std::move(fn)) { _help = std::move(help); }
  void execute(const xmlrpc_c::paramList& params, xmlrpc_c::value* result) override {
    fn_(params, result);
  }

 private:
  Fn fn_;
};

// SimpleXMLRPCServer reports an exception as faultCode 1, "<class 'Name'>:str(exc)".
[[noreturn]] void PythonFault(std::string_view exception, std::string_view message) {
  throw xmlrpc_c::fault(
      absl::StrCat("<class '", std::string(exception), "'>:", std::string(message)),
      static_cast<xmlrpc_c::fault::code_t>(1));
}

// str(KeyError('k')) is "'k'".
[[noreturn]] void KeyErrorFault(std::string_view key) {
  PythonFault("KeyError", absl::StrCat("'", std::string(key), "'"));
}

[[noreturn]] void StoreFault(const absl::Status& s, std::string_view key) {
  if (absl::IsNotFound(s)) KeyErrorFault(key);
  if (absl::IsInvalidArgument(s) || absl::IsResourceExhausted(s)) {
    PythonFault("ValueError", std::string(s.message()));
  }
  PythonFault("RuntimeError", std::string(s.message()));
}

std::string FaultResponse(const xmlrpc_c::fault& fault) {
  std::string response;
  try {
    xmlrpc_c::xml::generateResponse(xmlrpc_c::rpcOutcome(fault), &response);
  } catch (...) {
  }
  return response;
}

}  // namespace

void RaiseXmlSizeLimit(size_t bytes) {
  if (xmlrpc_limit_get(XMLRPC_XML_SIZE_LIMIT_ID) < bytes) {
    xmlrpc_limit_set(XMLRPC_XML_SIZE_LIMIT_ID, bytes);
  }
}

absl::StatusOr<std::unique_ptr<XmlRpcKv>> XmlRpcKv::New(std::shared_ptr<store::KvStore> kv) {
  if (kv == nullptr) return absl::InvalidArgumentError("xmlrpc: a store is required");
  try {  // xmlrpc-c reports by exception; none may leave this module
    return std::unique_ptr<XmlRpcKv>(new XmlRpcKv(std::move(kv)));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("xmlrpc: cannot build the method registry: ", e.what()));
  }
}

XmlRpcKv::XmlRpcKv(std::shared_ptr<store::KvStore> kv) : kv_(std::move(kv)) {
  store::KvStore* kv_ptr = kv_.get();
  // xmlrpc-c's methodPtr owns what it is given (reference-counted autoObject).
  auto add = [this](const char* name, const char* help, Fn fn) {
    registry_.addMethod(name, xmlrpc_c::methodPtr(new FnMethod(help, std::move(fn))));
  };
  add("get", "get(key): the value set for key; fault KeyError when absent",
      [kv_ptr](const xmlrpc_c::paramList& p, xmlrpc_c::value* result) {
        std::string key = p.getString(0);
        p.verifyEnd(1);
        absl::StatusOr<store::KvEntry> entry = kv_ptr->Get(key);
        if (!entry.ok()) StoreFault(entry.status(), key);
        absl::StatusOr<xmlrpc_c::value> value = DecodeValue(entry->value, entry->content_type);
        if (!value.ok()) PythonFault("ValueError", std::string(value.status().message()));
        *result = *value;
      });
  add("set", "set(key, value): stores value (any XML-RPC type) under key",
      [kv_ptr](const xmlrpc_c::paramList& p, xmlrpc_c::value* result) {
        std::string key = p.getString(0);
        if (p.size() < 2) PythonFault("TypeError", "set() missing 1 required argument: 'value'");
        p.verifyEnd(2);
        absl::StatusOr<EncodedValue> encoded = EncodeValue(p[1]);
        if (!encoded.ok()) PythonFault("ValueError", std::string(encoded.status().message()));
        if (absl::Status s = kv_ptr->Set(key, encoded->bytes, encoded->content_type); !s.ok()) {
          StoreFault(s, key);
        }
        *result = xmlrpc_c::value_nil();
      });
  add("delete", "delete(key): removes key; fault KeyError when absent",
      [kv_ptr](const xmlrpc_c::paramList& p, xmlrpc_c::value* result) {
        std::string key = p.getString(0);
        p.verifyEnd(1);
        if (absl::Status s = kv_ptr->Delete(key); !s.ok()) StoreFault(s, key);
        *result = xmlrpc_c::value_nil();
      });
  add("exists", "exists(key): whether key is set",
      [kv_ptr](const xmlrpc_c::paramList& p, xmlrpc_c::value* result) {
        std::string key = p.getString(0);
        p.verifyEnd(1);
        absl::StatusOr<bool> exists = kv_ptr->Exists(key);
        if (!exists.ok()) StoreFault(exists.status(), key);
        *result = xmlrpc_c::value_boolean(*exists);
      });
  add("keys", "keys([prefix]): every key (starting with prefix), ascending",
      [kv_ptr](const xmlrpc_c::paramList& p, xmlrpc_c::value* result) {
        std::string prefix = p.size() > 0 ? p.getString(0) : "";
        p.verifyEnd(p.size() > 0 ? 1 : 0);
        std::vector<xmlrpc_c::value> keys;
        std::string token;
        do {
          absl::StatusOr<store::KvKeyPage> page = kv_ptr->Keys(prefix, 1000, token);
          if (!page.ok()) StoreFault(page.status(), prefix);
          for (const std::string& k : page->keys) {
            // A key set over gRPC may be bytes XML cannot carry; it is left out rather than
            // producing a response no client can parse.
            if (IsXmlText(k))
              keys.emplace_back(xmlrpc_c::value_string(k));  // it copies: takes a const&
          }
          token = std::move(page->next_page_token);
        } while (!token.empty());
        *result = xmlrpc_c::value_array(keys);
      });
}

std::string XmlRpcKv::Handle(const std::string& call_xml) const {
  std::string response;
  try {
    // xmlrpc-c expands entities and frees its element tree recursively: a DTD or a deeply nested
    // body must never reach it (xml_guard.h says why the check is a parser, not a byte scan).
    if (absl::Status guard = CheckUntrustedXml(call_xml); !guard.ok()) {
      throw xmlrpc_c::fault(absl::StrCat("Call XML not a proper XML-RPC call: ", guard.message()),
                            xmlrpc_c::fault::CODE_PARSE);
    }
    registry_.processCall(call_xml, &response);
    return response;
  } catch (const xmlrpc_c::fault& f) {
    return FaultResponse(f);
  } catch (const std::exception& e) {
    // processCall answers malformed calls with a fault itself; this is the backstop.
    return FaultResponse(
        xmlrpc_c::fault(absl::StrCat("request refused: ", e.what()), xmlrpc_c::fault::CODE_PARSE));
  }
}

}  // namespace nodegate::http
