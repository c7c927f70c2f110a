#include "observe/handshake_log.h"

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace nodegate::observe {

std::string HandshakeRefusalText(const HandshakeRefusal& r, uint64_t suppressed) {
  std::string text = absl::StrCat("tls handshake refused: ", r.words);
  if (!r.subject.empty()) {
    absl::StrAppend(&text, " (subject ", r.subject, ", serial ", r.serial, ")");
  }
  if (!r.detail.empty()) absl::StrAppend(&text, ": ", r.detail);
  if (suppressed > 0) absl::StrAppend(&text, "; ", suppressed, " more like this suppressed");
  return text;
}

bool HandshakeLog::Record(const HandshakeRefusal& r, absl::Time now) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++counts_[{r.listener, r.reason}];
  }
  uint64_t held = 0;
  if (!limiter_.Admit(absl::StrCat(r.listener, "/", r.reason), now, &held)) return false;
  const std::string text = HandshakeRefusalText(r, held);
  spdlog::warn("{}: {}{}{}", r.listener, r.peer.empty() ? "" : r.peer, r.peer.empty() ? "" : ": ",
               text);
  if (access_log_ != nullptr && access_log_->enabled()) {
    AccessRecord record;
    record.time = now;
    record.peer = r.peer;
    record.method = absl::StrCat("tls-handshake:", r.listener);
    record.code = 16;  // UNAUTHENTICATED: the peer never became a caller
    record.reason = text;
    access_log_->Write(record);
  }
  return true;
}

std::map<std::pair<std::string, std::string>, uint64_t> HandshakeLog::Counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

}  // namespace nodegate::observe
