# kiln: `make demo` and `make test` work on a fresh Debian 12 machine (they install what is missing).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_LABELS ?= cpu|conformance|gpu

.PHONY: all setup configure build report-deps test demo fuzz-smoke capi-asan clean

all: build

setup:
	@scripts/setup

configure: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_ARCHITECTURES=90 $(CMAKE_FLAGS)

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# vega, vega-lite and vega-embed (pinned by report/package-lock.json) that `kiln report` inlines into its page;
# onnxruntime-node (pinned by tools/ort/package-lock.json), the ONNX Runtime oracle of `kiln compare --backends ort`.
report-deps:
	@if [ ! -f report/node_modules/vega/build/vega.min.js ]; then npm ci --prefix report --no-audit --no-fund; fi
	@if [ ! -d tools/ort/node_modules/onnxruntime-node ]; then npm ci --prefix tools/ort --no-audit --no-fund; fi

# All CPU tests, the ONNX conformance suite and the GPU tests (they skip visibly without a GPU), then a
# bounded fuzz run of the importer and the C ABI's tests under ASan/UBSan.
test: build report-deps
	@cd $(BUILD) && ctest -L '$(CTEST_LABELS)' --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory capi-asan

fuzz-smoke:
	@if [ -x scripts/fuzz.sh ]; then scripts/fuzz.sh 60; else echo "fuzz: scripts/fuzz.sh not present, skipped"; fi

# libkiln.so's C ABI tests in a CPU-only AddressSanitizer/UBSan build (build-asan), leak checking on.
capi-asan:
	@scripts/capi_asan.sh

# The default model, a small benchmark sweep (CUDA engines when a GPU is present, else the CPU reference) and
# the HTML report, whose path it prints.
demo: build report-deps
	@scripts/demo $(BUILD)

clean:
	rm -rf $(BUILD) build-fuzz build-asan
