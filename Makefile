# nodegate — the two commands: `make run` and `make test`.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
NODEGATE := $(BUILD_DIR)/nodegate
VAR_DIR ?= var

.PHONY: all deps configure build run test unit e2e fault fuzz bench microbench fmt clean

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

configure: deps $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Dev PKI + configs under ./var (never overwrites), then a node in the foreground on 127.0.0.1:8443.
run: build
	$(NODEGATE) init --dir $(VAR_DIR)
	$(NODEGATE) serve --config $(VAR_DIR)/node.toml

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

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
FUZZ_TARGETS ?= authorizer forwarded_identity config xmlrpc gateway pki_csr method_table
fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DNODEGATE_FUZZ=ON \
		-DNODEGATE_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target $(addsuffix _fuzzer,$(FUZZ_TARGETS))
	scripts/run-fuzzers $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The benchmark suite (docs/benchmarks.md): ~10 min, pins server and load generator to separate
# cores, writes bench/results/<date>.md. Not part of `make test`. BENCH_ARGS e.g. "--rows 3,6,8".
bench: build
	/usr/bin/python3 bench/run_suite.py --build-dir $(BUILD_DIR) $(BENCH_ARGS)

# The Google Benchmark micro-benchmarks (crypto, auth, …).
microbench: build
	@for b in $(BUILD_DIR)/bench/*_benchmark; do [ -x "$$b" ] && "$$b" || true; done

fmt:
	find src tests bench -name '*.cc' -o -name '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR)
