// Model feeds for the CLI (kiln run, kiln compare): inputs from .npy/.npz files, checked against the
// graph's inputs, and seeded random data for the rest.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::cli {

struct FeedSources {
  std::string npz;                  // an .npz whose member names are input names (may be empty)
  std::vector<std::string> inputs;  // NAME=FILE.npy
  uint64_t seed = 0;                // for the inputs no file feeds
};

// Fills `feeds` (and `origin`: input name -> where its data came from). A file feeding an unknown input,
// or data whose dtype/shape does not fit the input, is kInvalidInput naming the file, the input and both
// shapes/dtypes. Input i's random stream depends only on the seed and i.
Status read_feeds(const FeedSources& sources, const std::vector<const Value*>& inputs, TensorMap& feeds,
                  std::map<std::string, std::string>& origin);
// The same for a graph's inputs.
Status read_feeds(const FeedSources& sources, const Graph& g, TensorMap& feeds,
                  std::map<std::string, std::string>& origin);

}  // namespace kiln::cli
