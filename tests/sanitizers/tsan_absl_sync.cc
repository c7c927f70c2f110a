// ThreadSanitizer build only: tells TSan about Debian's Abseil Mutex and CondVar.
//
// Debian's libabsl_synchronization is not built with -fsanitize=thread, so TSan never sees an
// absl::Mutex being locked: every field our code (ReplayCache, Authorizer, Health, the SQLite
// store) or gRPC (gpr_mu is absl::Mutex in 1.51) guards with one is reported as a data race
// between two properly locked accesses. Upstream Abseil carries the same annotations
// (ABSL_TSAN_MUTEX_PRE_LOCK …) and compiles them in under TSan; we add them from outside: these
// definitions of the out-of-line members interpose the shared library's (an executable's symbols
// come first in the dynamic lookup, for our calls and for libgrpc's), annotate, and call the real
// function found with dlsym(RTLD_NEXT). Linked into the test binaries of `make tsan` only.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"

namespace {

template <typename Fn>
Fn Real(const char* mangled) {
  void* p = dlsym(RTLD_NEXT, mangled);
  if (p == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in the next library\n", mangled);
    std::abort();
  }
  return reinterpret_cast<Fn>(p);
}

// The library calls its own exported members (WaitWithTimeout calls WaitWithDeadline, …), and those
// calls land here too; only the outermost call of a thread annotates, or TSan sees one unlock
// twice.
thread_local int depth = 0;
class Outermost {
 public:
  Outermost() : outer_(depth++ == 0) {}
  ~Outermost() { --depth; }
  Outermost(const Outermost&) = delete;
  Outermost& operator=(const Outermost&) = delete;
  explicit operator bool() const { return outer_; }

 private:
  const bool outer_;
};

void PreLock(void* mu, unsigned flags, const Outermost& o) {
  if (o) __tsan_mutex_pre_lock(mu, flags);
}
void PostLock(void* mu, unsigned flags, const Outermost& o) {
  if (o) __tsan_mutex_post_lock(mu, flags, 0);
}
void Unlocked(void* mu, unsigned flags, const Outermost& o) {
  if (!o) return;
  __tsan_mutex_pre_unlock(mu, flags);
  __tsan_mutex_post_unlock(mu, flags);
}
void Relocked(void* mu, unsigned flags, const Outermost& o) {
  PreLock(mu, flags, o);
  PostLock(mu, flags, o);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

#define NODEGATE_REAL(type, mangled) static const auto real = Real<type>(mangled)

void Mutex::Lock() {
  NODEGATE_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  const Outermost o;
  PreLock(this, 0, o);
  real(this);
  PostLock(this, 0, o);
}

void Mutex::Unlock() {
  NODEGATE_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  const Outermost o;
  if (o) __tsan_mutex_pre_unlock(this, 0);
  real(this);
  if (o) __tsan_mutex_post_unlock(this, 0);
}

bool Mutex::TryLock() {
  NODEGATE_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  const Outermost o;
  PreLock(this, __tsan_mutex_try_lock, o);
  const bool locked = real(this);
  PostLock(this, locked ? __tsan_mutex_try_lock : __tsan_mutex_try_lock_failed, o);
  return locked;
}

bool Mutex::ReaderTryLock() {
  NODEGATE_REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const Outermost o;
  PreLock(this, __tsan_mutex_read_lock | __tsan_mutex_try_lock, o);
  const bool locked = real(this);
  PostLock(this,
           __tsan_mutex_read_lock | (locked ? __tsan_mutex_try_lock : __tsan_mutex_try_lock_failed),
           o);
  return locked;
}

void Mutex::ReaderLock() {
  NODEGATE_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  const Outermost o;
  PreLock(this, __tsan_mutex_read_lock, o);
  real(this);
  PostLock(this, __tsan_mutex_read_lock, o);
}

void Mutex::ReaderUnlock() {
  NODEGATE_REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  const Outermost o;
  if (o) __tsan_mutex_pre_unlock(this, __tsan_mutex_read_lock);
  real(this);
  if (o) __tsan_mutex_post_unlock(this, __tsan_mutex_read_lock);
}

// The LockWhen family returns with the mutex held (whether or not the condition came true).
void Mutex::LockWhen(const Condition& cond) {
  NODEGATE_REAL(void (*)(Mutex*, const Condition&),
                "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  const Outermost o;
  PreLock(this, 0, o);
  real(this, cond);
  PostLock(this, 0, o);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  NODEGATE_REAL(bool (*)(Mutex*, const Condition&, Duration),
                "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const Outermost o;
  PreLock(this, 0, o);
  const bool met = real(this, cond, timeout);
  PostLock(this, 0, o);
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  NODEGATE_REAL(bool (*)(Mutex*, const Condition&, Time),
                "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const Outermost o;
  PreLock(this, 0, o);
  const bool met = real(this, cond, deadline);
  PostLock(this, 0, o);
  return met;
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  NODEGATE_REAL(void (*)(Mutex*, const Condition&),
                "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  const Outermost o;
  PreLock(this, __tsan_mutex_read_lock, o);
  real(this, cond);
  PostLock(this, __tsan_mutex_read_lock, o);
}

// Await and the CondVar waits release and re-take the mutex inside the library.
void Mutex::Await(const Condition& cond) {
  NODEGATE_REAL(void (*)(Mutex*, const Condition&),
                "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  const Outermost o;
  Unlocked(this, 0, o);
  real(this, cond);
  Relocked(this, 0, o);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  NODEGATE_REAL(bool (*)(Mutex*, const Condition&, Duration),
                "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const Outermost o;
  Unlocked(this, 0, o);
  const bool met = real(this, cond, timeout);
  Relocked(this, 0, o);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  NODEGATE_REAL(bool (*)(Mutex*, const Condition&, Time),
                "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const Outermost o;
  Unlocked(this, 0, o);
  const bool met = real(this, cond, deadline);
  Relocked(this, 0, o);
  return met;
}

void CondVar::Wait(Mutex* mu) {
  NODEGATE_REAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  const Outermost o;
  Unlocked(mu, 0, o);
  real(this, mu);
  Relocked(mu, 0, o);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  NODEGATE_REAL(bool (*)(CondVar*, Mutex*, Duration),
                "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  const Outermost o;
  Unlocked(mu, 0, o);
  const bool timed_out = real(this, mu, timeout);
  Relocked(mu, 0, o);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  NODEGATE_REAL(bool (*)(CondVar*, Mutex*, Time),
                "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  const Outermost o;
  Unlocked(mu, 0, o);
  const bool timed_out = real(this, mu, deadline);
  Relocked(mu, 0, o);
  return timed_out;
}

#undef NODEGATE_REAL

ABSL_NAMESPACE_END
}  // namespace absl
