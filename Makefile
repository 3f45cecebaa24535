# Entry points a person types. Everything real lives in CMake; this file installs what a
# fresh Debian 12 machine lacks, configures the build trees and runs them.
BUILD      ?= build
JOBS       ?= $(shell nproc)
DEPS       := cmake ninja-build g++ clang libgtest-dev libgmock-dev libbenchmark-dev \
              libfuse3-dev fuse3 libasio-dev libcli11-dev systemtap-sdt-dev diod \
              libclang-rt-14-dev libxxhash-dev libssl-dev git rsync sqlite3 munge libmunge-dev
# Only the side-by-side benchmark needs these; `make test` does not install them.
BENCH_DEPS := fio sshfs rclone bindfs openssh-server openssh-client python3 libsodium-dev
CMAKE_ARGS ?=

# The 50,000-file tree + git test (tree_scale_test) takes 5-20 min on this 2-core
# machine: `make test-scale` runs it; `make test` keeps to the suite that finishes in minutes.
SCALE_LABEL := integration_scale

.PHONY: all deps build test test-fast test-scale test-asan test-tsan test-fuzz bench bench-compare demo install clean

all: build

deps:
	@./scripts/install-deps.sh $(DEPS)

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Every test: the normal build, then the unit tests under ASan+UBSan and the engine's under TSan.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300 -LE $(SCALE_LABEL)
	$(MAKE) test-asan test-tsan test-fuzz

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 300 -LE $(SCALE_LABEL)

test-scale: build
	cd $(BUILD) && ctest --output-on-failure -L $(SCALE_LABEL)

test-asan: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DNETFS_SANITIZE=address -DNETFS_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build build-asan -j $(JOBS) --target tests-unit
	cd build-asan && ctest --output-on-failure -j $(JOBS) --timeout 300 -L unit

test-tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNETFS_SANITIZE=thread -DNETFS_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build build-tsan -j $(JOBS) --target tests-engine
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j $(JOBS) --timeout 300 -L engine

# The 9P reply decoder under libFuzzer (clang), for a bounded time.
test-fuzz: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DNETFS_BUILD_FUZZ=ON -DNETFS_BUILD_BENCH=OFF $(CMAKE_ARGS)
	cmake --build build-fuzz -j $(JOBS) --target p9_decode_fuzz
	cd build-fuzz && ctest --output-on-failure -L fuzz

bench: build
	./$(BUILD)/bench/write_bench
	./$(BUILD)/bench/read_bench
	$(MAKE) bench-compare

# netfs against sshfs, rclone mount and bindfs on 127.0.0.1, one run (root). docs/bench.md
bench-compare: build
	@./scripts/install-deps.sh $(BENCH_DEPS)
	./bench/compare/run.sh --build $(BUILD) --out $(BUILD)/bench-compare.md

# A loopback diod, a mount, real work through it, stats, unmount (scripts/demo.sh).
demo: build
	./scripts/demo.sh $(BUILD)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
