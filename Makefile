# Tessera — thin wrapper over CMake. Targets:
#   make          release build (build/)
#   make demo     the main job on the default model (SmolLM2-135M-Instruct)
#   make check    install dependencies, fetch the test model, build with
#                 warnings as errors, run every test
#   make asan     AddressSanitizer + UndefinedBehaviorSanitizer build (clang),
#                 running the fast tests and the fuzz corpora
#   make fuzz     libFuzzer targets (clang); `make fuzz FUZZ_TIME=600` fuzzes
#                 the GGUF reader for that many seconds from a scratch corpus
#   make bench    release build, then the micro-benchmarks (bench/README.md);
#                 options in BENCH_ARGS, e.g. `make bench BENCH_ARGS="-r 10 Q4_K"`
#   make format   clang-format the sources
#   make clean
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_TIME ?= 0
BENCH_ARGS ?=
CMAKE ?= cmake

DEMO_MODEL = $(or $(TESSERA_CACHE),$(HOME)/.cache/tessera)/models/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: all release demo check deps asan fuzz bench format clean

all: release

release:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build build -j$(JOBS)

# Until the engine lands, the main job is reading the model: what Tessera
# sees in the default model's file.
demo:
	scripts/install-deps.sh
	$(MAKE) --no-print-directory release
	scripts/fetch-model.sh smollm2 >/dev/null
	build/tessera inspect $(DEMO_MODEL)

deps:
	scripts/install-deps.sh
	scripts/fetch-model.sh all >/dev/null

check: deps
	$(CMAKE) -S . -B build-check -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_WERROR=ON
	$(CMAKE) --build build-check -j$(JOBS)
	cd build-check && ctest --output-on-failure -j$(JOBS)

asan:
	scripts/install-deps.sh
	CC=clang $(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTS_WERROR=ON \
	  -DTS_SANITIZE=ON -DTS_FUZZ=ON
	$(CMAKE) --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) -L fast

fuzz:
	scripts/install-deps.sh
	CC=clang $(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTS_SANITIZE=ON -DTS_FUZZ=ON
	$(CMAKE) --build build-asan -j$(JOBS) --target fuzz_gguf
	@if [ "$(FUZZ_TIME)" -gt 0 ]; then \
	  mkdir -p build-asan/fuzz-corpus/gguf && cp -n tests/corpus/gguf/valid/* build-asan/fuzz-corpus/gguf/; \
	  build-asan/tests/fuzz/fuzz_gguf -dict=tests/fuzz/gguf.dict -max_total_time=$(FUZZ_TIME) \
	    -print_final_stats=1 build-asan/fuzz-corpus/gguf; \
	else echo "fuzz targets built in build-asan/tests/fuzz; run with FUZZ_TIME=SECONDS"; fi

bench:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build build -j$(JOBS) --target bench_quants
	build/bench/bench_quants $(BENCH_ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-check build-asan
