# The README's two commands, and a few more. Everything goes through CMake;
# binaries land in build/bin/.
#
#   make run        install dependencies, build, start lienthongd on config/lienthong.yaml
#                   with the bundled tax/land/portal simulators
#   make test       install dependencies, build, run every test (ctest)
#   make test-asan  the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       libFuzzer targets with clang, FUZZ_SECONDS each (default 30)
#   make bench      install redis-server and nats-server (deps.sh --bench), build, run the
#                   comparison (bench-compare) and the cost-growth bench (not a test)

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG ?= config/lienthong.yaml
FUZZ_SECONDS ?= 30
BENCH_EVENTS ?= 20000
BENCH_GROWTH ?= 0,1M
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-asan fuzz bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	scripts/run-local.sh $(BUILD) $(CONFIG)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan:
	@scripts/deps.sh
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLT_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir build-asan --output-on-failure -j $(JOBS)

fuzz:
	@scripts/deps.sh --fuzz
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLT_FUZZ=ON \
	  -DLT_SANITIZE=ON -DLT_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	ctest --test-dir build-fuzz --output-on-failure -L fuzz

bench:
	@scripts/deps.sh --bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	$(BUILD)/bin/bench-compare --events $(BENCH_EVENTS)
	$(BUILD)/bin/bench-growth --growth $(BENCH_GROWTH)

clean:
	rm -rf build build-asan build-fuzz
