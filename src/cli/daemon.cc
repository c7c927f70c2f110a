#include "cli/daemon.h"

#include <signal.h>

#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace nodegate::cli {

sigset_t StopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  return signals;
}

void SetUpDaemonLog(const std::string& logger_name, const std::string& level) {
  auto logger = spdlog::stderr_logger_mt(logger_name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void BlockStopSignals() {
  sigset_t signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int WaitForStopSignal(const std::function<void()>& reload) {
  sigset_t signals = StopSignals();
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      reload();
      continue;
    }
    return sig;
  }
}

}  // namespace nodegate::cli
