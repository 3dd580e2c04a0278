# kiln: `make demo` and `make test` work on a fresh Debian 12 machine (they install what is missing).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_LABELS ?= cpu|conformance|gpu

.PHONY: all setup configure build test demo fuzz-smoke clean

all: build

setup:
	@scripts/setup

configure: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_ARCHITECTURES=90 $(CMAKE_FLAGS)

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# All CPU tests, the ONNX conformance suite and the GPU tests (they skip visibly without a GPU), then a
# bounded fuzz run of the importer.
test: build
	@cd $(BUILD) && ctest -L '$(CTEST_LABELS)' --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory fuzz-smoke

fuzz-smoke:
	@if [ -x scripts/fuzz.sh ]; then scripts/fuzz.sh 60; else echo "fuzz: scripts/fuzz.sh not present, skipped"; fi

demo: build
	@scripts/demo $(BUILD)

clean:
	rm -rf $(BUILD) build-fuzz
