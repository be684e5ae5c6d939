# tabagent - the two commands:
#   make run    set up, build and run the server (extra flags: make run ARGS="--port 8080")
#   make test   set up, build and pass every test: the normal build, an AddressSanitizer +
#               UBSan build, the fuzz targets (bounded runs) and the clang-format check
JOBS ?= $(shell nproc)
ARGS ?=

.PHONY: all setup build run test test-release test-asan test-fuzz format format-check bench clean

all: build

setup:
	bash scripts/setup.sh

build: setup
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j$(JOBS)

run: build
	./build/tabagent-server $(ARGS)

test: setup format-check test-release test-asan test-fuzz
	@echo "all tests passed"

test-release:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j$(JOBS)
	TABAGENT_PACK_CACHE=$(CURDIR)/build/pack-cache ctest --test-dir build --output-on-failure -j$(JOBS)

test-asan:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTA_SANITIZE=ON
	cmake --build build-asan -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  TABAGENT_PACK_CACHE=$(CURDIR)/build-asan/pack-cache ctest --test-dir build-asan --output-on-failure -j$(JOBS)

test-fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DTA_FUZZ=ON
	cmake --build build-fuzz -j$(JOBS) --target fuzzers
	ctest --test-dir build-fuzz --output-on-failure -L fuzz

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

bench: build
	bash bench/run-all.sh

clean:
	rm -rf build build-asan build-fuzz
