#!/usr/bin/env bash
# Packs the GPU build for the device machine (which has no dev packages): the stripped binaries the GPU checks
# use, libkiln.so and its two shared third-party libraries, as build-carry/kbin.tar.xz (about 20 MB; git ignores
# build-carry/). On the device, unpack it in the repo root with
#   python3 -c "import tarfile;tarfile.open('build-carry/kbin.tar.xz').extractall('.')"
# Build first: cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_ARCHITECTURES=90 && ninja -C build
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/build/bin" build-carry
for f in kiln kiln_gpu_tests kiln_capi_gpu_tests kiln_example_infer; do
  [ -x "build/bin/$f" ] || { echo "pack_gpu_build: build/bin/$f is missing (build first)" >&2; exit 2; }
  strip -o "$W/build/bin/$f" "build/bin/$f"
done
strip -o "$W/build/libkiln.so" build/libkiln.so
cp -L build/libprotobuf.so.32 build/libyaml-cpp.so.0.7 "$W/build/"
tar -C "$W" -cJf build-carry/kbin.tar.xz.tmp build
mv build-carry/kbin.tar.xz.tmp build-carry/kbin.tar.xz
echo "pack_gpu_build: build-carry/kbin.tar.xz ($(du -h build-carry/kbin.tar.xz | cut -f1))"
