# nodegate — the two commands: `make run` and `make test`.
comma := ,
# SAN=address,undefined (or SAN=thread) builds a sanitized tree in its own directory, build-<first
# sanitizer> (build-asan, build-tsan), without the benchmarks; `make test SAN=...` runs the whole
# suite against it. The sanitizer options and suppressions reach every test through ctest
# (tests/CMakeLists.txt, tests/sanitizers/).
SAN ?=
JOBS ?= $(shell nproc)
# ccache keys on paths relative to the checkout, so a fresh clone elsewhere (CI) reuses the cache.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1
CMAKE_FLAGS ?= -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
ifneq ($(SAN),)
SAN_NAME := $(firstword $(subst $(comma), ,$(SAN)))
SAN_NAME := $(patsubst address,asan,$(patsubst thread,tsan,$(patsubst undefined,ubsan,$(SAN_NAME))))
BUILD_DIR ?= build-$(SAN_NAME)
CMAKE_FLAGS += -DNODEGATE_SANITIZE=$(SAN) -DNODEGATE_BUILD_BENCH=OFF
endif
BUILD_DIR ?= build
NODEGATE := $(BUILD_DIR)/nodegate
VAR_DIR ?= var

.PHONY: all deps configure build deb run fleet test unit e2e fault fuzz tsan bench microbench fmt lint clean

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The .deb packages (docs/install.md): nodegate (binary, systemd unit, nginx template, docs, bash
# completion) and nodegate-dev (libraries, headers, CMake package), in $(BUILD_DIR)/packages/.
deb: build
	cd $(BUILD_DIR) && cpack -G DEB -B $(CURDIR)/$(BUILD_DIR)/packages
	@ls -1 $(BUILD_DIR)/packages/*.deb

# Dev PKI + configs under ./var (never overwrites), then a node in the foreground on 127.0.0.1:8443.
run: build
	$(NODEGATE) init --dir $(VAR_DIR)
	$(NODEGATE) serve --config $(VAR_DIR)/node.toml

# A fleet on this machine (docs/deploy.md, "Fleet"): a private PostgreSQL, the dev PKI, three
# replicas of one node on it and nginx in front, all on 127.0.0.1 (nginx 9443, replicas 9444-9446,
# PostgreSQL 9447), state under $(VAR_DIR)/fleet. Ctrl-C stops everything. FLEET_ARGS e.g.
# "--fresh", "--base-port 19443", "--check" (start, one call through nginx, stop).
fleet: build
	/usr/bin/python3 scripts/fleet --nodegate $(NODEGATE) --dir $(VAR_DIR)/fleet $(FLEET_ARGS)

# Sanitizer runtime options for every test ctest starts, and for every process those start (the
# pytest suites' daemons and CLI runs inherit them). They only act on a sanitized binary.
# halt_on_error + -fno-sanitize-recover: the first report ends the process with a non-zero exit.
# ASan's fast (frame-pointer) unwinder stops at Debian's libcrypto, so a leak allocated inside
# OpenSSL shows only its OpenSSL frames; add fast_unwind_on_malloc=0 to ASAN_OPTIONS to see the
# whole stack when chasing one. It is not the default: it makes every malloc walk DWARF and the
# suite 4x slower (one e2e test: 16 s -> 67 s; docs/sanitizers.md).
# tests/conftest.py adds log_path, so a report from any nodegate process fails the pytest test.
SAN_SUPP := $(CURDIR)/tests/sanitizers
SAN_ENV := \
  ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0:strict_init_order=1 \
  LSAN_OPTIONS=suppressions=$(SAN_SUPP)/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(SAN_SUPP)/ubsan.supp \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(SAN_SUPP)/tsan.supp

test: build
	env $(SAN_ENV) ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -R '^unit\.'

e2e: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L 'e2e|interop'

# Hostile input, fd exhaustion, slow clients, rotation, SIGTERM, full disk (issue 12; docs/reliability.md).
fault: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -L fault

# libFuzzer targets (docs/fuzzing.md): clang + ASan/UBSan in build-fuzz/, each run FUZZ_SECONDS, one
# at a time; non-zero exit on any crash, leak or timeout. FUZZ_TARGETS picks some of them.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= authorizer forwarded_identity config xmlrpc gateway pki_csr method_table grpc_wire \
	h2_connection signature
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DNODEGATE_FUZZ=ON \
		-DNODEGATE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target $(addsuffix _fuzzer,$(FUZZ_TARGETS))
	scripts/run-fuzzers $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# ThreadSanitizer over the unit tests that run threads: rpc core, TLS reloader, credential and
# replay caches, access log, tunnel and the HTTPS server (issue 13). Only those test binaries are
# built; Debian's gRPC/OpenSSL are not instrumented (tests/sanitizers/tsan.supp says what that costs).
TSAN_DIR ?= build-tsan
TSAN_TARGETS := unit_rpc_test unit_tls_test unit_auth_test unit_observe_test unit_tunnel_test unit_http_test
TSAN_TESTS := ^unit\.(rpc|tls|auth|observe|tunnel)\.|^unit\.http\.HttpsServer

tsan: deps
	cmake -S . -B $(TSAN_DIR) $(CMAKE_FLAGS) -DNODEGATE_SANITIZE=thread -DNODEGATE_BUILD_BENCH=OFF
	cmake --build $(TSAN_DIR) -j $(JOBS) --target $(TSAN_TARGETS)
	env $(SAN_ENV) ctest --test-dir $(TSAN_DIR) --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)'

# The benchmark suite (docs/benchmarks.md): ~10 min, pins server and load generator to separate
# cores, writes bench/results/<date>.md. Not part of `make test`. BENCH_ARGS e.g. "--rows 3,6,8".
bench: build
	/usr/bin/python3 bench/run_suite.py --build-dir $(BUILD_DIR) $(BENCH_ARGS)

# The Google Benchmark micro-benchmarks (crypto, auth, …).
microbench: build
	@for b in $(BUILD_DIR)/bench/*_benchmark; do [ -x "$$b" ] && "$$b" || true; done

fmt:
	find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

# The quality gate (issue 13, docs/lint.md): clang-format over the whole tree, then clang-tidy
# (.clang-tidy) on every .cc whose content key is not cached clean (scripts/lint; LINT_CACHE, default
# ~/.cache/nodegate-lint). Needs compile_commands.json and the generated protobuf headers, not a build.
# Fails on any finding.
LINT_CACHE ?=
lint: configure
	find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format --dry-run --Werror
	cmake --build $(BUILD_DIR) -j $(JOBS) --target nodegate_proto
	scripts/lint --build-dir $(BUILD_DIR) $(if $(LINT_CACHE),--cache-dir $(LINT_CACHE))

clean:
	rm -rf $(BUILD_DIR)
