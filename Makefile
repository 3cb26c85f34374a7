# Tessera — thin wrapper over CMake. Targets:
#   make          release build (build/)
#   make demo     the main job on the default model (SmolLM2-135M-Instruct)
#   make check    install dependencies, fetch the test model, build with
#                 warnings as errors, run every test
#   make neon-check  the ARM64 NEON paths on an x86-64 Debian machine:
#                 cross-compiled and run under qemu-aarch64 (kernel unit
#                 tests, tiny models' logits bitwise against the scalar path)
#   make asan     AddressSanitizer + UndefinedBehaviorSanitizer build (clang),
#                 running the fast tests and the fuzz corpora
#   make fuzz     libFuzzer targets (clang); `make fuzz FUZZ_TIME=600
#                 FUZZ_TARGET=gguf|tokenizer|template|model` fuzzes one for that many
#                 seconds from a scratch copy of its seed corpus
#   make bench    release build, then the micro-benchmarks (bench/README.md);
#                 `make bench BENCH=quants BENCH_ARGS="-r 10 Q4_K"` runs one
#                 (the engine end to end: `build/tessera bench`)
#   make format   clang-format the sources
#   make clean
MAKEFLAGS += --no-print-directory
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_TIME ?= 0
BENCH_ARGS ?=
CMAKE ?= cmake

DEMO_MODEL = $(or $(TESSERA_CACHE),$(HOME)/.cache/tessera)/models/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: all release demo check deps neon-check asan fuzz bench format clean

all: release

release:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build build -j$(JOBS)

# The main job: a chat answer from the default model, streamed as it comes.
# Greedy (--temp 0): the same answer on every run, at any thread count.
DEMO_QUESTION = Explain in one sentence what a CPU does.

demo:
	scripts/install-deps.sh
	$(MAKE) release
	scripts/fetch-model.sh smollm2 >/dev/null
	@echo "== model (tessera inspect)"
	@build/tessera inspect $(DEMO_MODEL) | sed -n '1,5p'
	@echo '[{"role": "user", "content": "$(DEMO_QUESTION)"}]' > build/demo-chat.json
	@echo "== prompt (tessera template: the model's own chat template)"
	@build/tessera template -m $(DEMO_MODEL) build/demo-chat.json
	@echo "== answer (tessera run --chat, greedy)"
	build/tessera run -m $(DEMO_MODEL) --chat -p '$(DEMO_QUESTION)' --temp 0 -n 256

deps:
	scripts/install-deps.sh
	scripts/fetch-model.sh all >/dev/null

check: deps
	$(CMAKE) -S . -B build-check -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_WERROR=ON
	$(CMAKE) --build build-check -j$(JOBS)
	cd build-check && ctest --output-on-failure -j$(JOBS) -LE model-large

# The ARM64 paths (neon, dotprod) cross-built (cmake/aarch64-linux-gnu.cmake)
# and run under qemu-aarch64 -cpu max, which has the dot product: the kernel
# unit tests, then every ARM64 path's logits on the tiny models against this
# machine's scalar path (tests/backends/test_paths_logits.py; the ARM64
# build's scalar path too). On an ARM64 machine `make check` runs them natively.
NEON_TESTS = test_cpu_paths|test_cpu_ops|test_core_threadpool|test_quant_float|test_quant_legacy|test_quant_k
neon-check:
	scripts/install-deps.sh
	scripts/install-cross-deps.sh
	$(CMAKE) -S . -B build-neon -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_WERROR=ON
	$(CMAKE) --build build-neon -j$(JOBS) --target logits_tool $(subst |, ,$(NEON_TESTS))
	$(CMAKE) -S . -B build-check -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_WERROR=ON
	$(CMAKE) --build build-check -j$(JOBS) --target logits_tool make_tiny_llama
	cd build-neon && ctest --output-on-failure -j$(JOBS) -R '^($(NEON_TESTS))$$'
	TS_LOGITS_TOOL=$(CURDIR)/build-check/tests/logits_tool \
	  MAKE_TINY_LLAMA=$(CURDIR)/build-check/tests/make_tiny_llama \
	  TS_LOGITS_TOOL_ARM64="qemu-aarch64 -cpu max $(CURDIR)/build-neon/tests/logits_tool" \
	  python3 -m pytest -q -s -p no:cacheprovider -k 'tiny and (arm64 or neon or dotprod)' \
	  tests/backends/test_paths_logits.py

asan:
	scripts/install-deps.sh
	CC=clang $(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTS_WERROR=ON \
	  -DTS_SANITIZE=ON -DTS_FUZZ=ON
	$(CMAKE) --build build-asan -j$(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) -L fast

# Seed corpus of each fuzz target (copied to a scratch folder: libFuzzer
# writes new inputs into it, never into tests/corpus).
FUZZ_TARGET ?= gguf
FUZZ_SEEDS_gguf = tests/corpus/gguf/valid
FUZZ_SEEDS_tokenizer = tests/corpus/tokenizer/seed
FUZZ_SEEDS_template = tests/corpus/template/seed
FUZZ_SEEDS_model = tests/corpus/model/seed

fuzz:
	scripts/install-deps.sh
	CC=clang $(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTS_SANITIZE=ON -DTS_FUZZ=ON
	$(CMAKE) --build build-asan -j$(JOBS) --target fuzz_gguf fuzz_tokenizer fuzz_template fuzz_model
	@if [ "$(FUZZ_TIME)" -gt 0 ]; then \
	  dir=build-asan/fuzz-corpus/$(FUZZ_TARGET); mkdir -p $$dir && cp -rn $(FUZZ_SEEDS_$(FUZZ_TARGET))/. $$dir/; \
	  dict=tests/fuzz/$(FUZZ_TARGET).dict; [ -f $$dict ] && dictarg=-dict=$$dict; \
	  build-asan/tests/fuzz/fuzz_$(FUZZ_TARGET) $$dictarg -max_total_time=$(FUZZ_TIME) \
	    -print_final_stats=1 $$dir; \
	else echo "fuzz targets built in build-asan/tests/fuzz; run one with" \
	  "make fuzz FUZZ_TARGET=gguf|tokenizer|template|model FUZZ_TIME=SECONDS"; fi

BENCH ?= quants tokenizer

bench:
	$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=Release
	$(CMAKE) --build build -j$(JOBS) $(addprefix --target bench_,$(BENCH))
	@for b in $(BENCH); do echo "== bench_$$b"; build/bench/bench_$$b $(BENCH_ARGS) || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-check build-asan build-neon
