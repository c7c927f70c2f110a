// What every long-running subcommand (serve, tunnel, echo) does the same way: a stderr log, the
// stop/reload signals blocked before any thread starts, and a wait that runs `reload` on SIGHUP
// and returns the signal number on SIGTERM/SIGINT.
#pragma once

#include <signal.h>

#include <functional>
#include <string>

namespace nodegate::cli {

void SetUpDaemonLog(const std::string& logger_name, const std::string& level);
// SIGINT, SIGTERM and SIGHUP.
sigset_t StopSignals();
// Call before starting any thread: the signals then reach only WaitForStopSignal.
void BlockStopSignals();
int WaitForStopSignal(const std::function<void()>& reload);

}  // namespace nodegate::cli
