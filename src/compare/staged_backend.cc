// The staged CUDA backend (staged_backend.h): run_in_stages with one static engine per stage and shape set.
#include "compare/staged_backend.h"

#include <fmt/format.h>

#include <list>
#include <map>

#include "engine/builder.h"
#include "ir/split.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

Status optimize_stage(Graph& g) { return optimize_graph(g).status(); }

std::string shapes_key(size_t stage, const Graph& g, const TensorMap& feeds) {
  std::string key = std::to_string(stage);
  for (const Value* v : g.inputs) key += "|" + v->name + ":" + shape_to_string(feeds.at(v->name).shape());
  return key;
}

class StagedCudaBackend : public BackendRunner {
 public:
  StagedCudaBackend(std::unique_ptr<Graph> graph, BuildOptions options, std::string precision, std::string reason)
      : graph_(std::move(graph)),
        options_(std::move(options)),
        precision_(std::move(precision)),
        reason_(std::move(reason)) {}

  std::string description() const override {
    return fmt::format("kiln CUDA engines, {}, run in stages ({}; {} stage engines built so far)", precision_, reason_,
                       built_);
  }

  Expected<std::vector<TensorMap>> run(const std::vector<TensorMap>& feed_sets) override {
    std::vector<TensorMap> out;
    for (const TensorMap& feeds : feed_sets) {
      size_t stage = 0;
      auto run_stage = [&](const Graph& g, const TensorMap& in) -> Expected<TensorMap> {
        KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> e, engine_for(stage++, g, in));
        return run_engine(e, in);
      };
      KILN_ASSIGN_OR_RETURN(TensorMap o, run_in_stages(*graph_, feeds, optimize_stage, run_stage));
      out.push_back(std::move(o));
    }
    return out;
  }

 private:
  static constexpr size_t kMaxEngines = 64;

  Expected<std::shared_ptr<Engine>> engine_for(size_t stage, const Graph& g, const TensorMap& feeds) {
    const std::string key = shapes_key(stage, g, feeds);
    if (auto it = cache_.find(key); it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      return it->second.first;
    }
    BuildOptions o = options_;
    o.shapes.clear();
    o.profiles.clear();
    for (const Value* v : g.inputs) o.shapes[v->name] = feeds.at(v->name).shape();
    if (stage > 0) {  // small, data-shaped: heuristics, no range check, no timing cache churn
      o.tune = false;
      o.optimization_level = 0;
      o.range_check = false;
      o.timing_cache_file.clear();
      o.input_values.clear();  // model inputs fixed at build are stage 1's; later stages read its results
    }
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Graph> copy, copy_graph(g));
    auto built = build_engine(std::move(copy), o);
    if (!built.ok()) return built.status().with_context(fmt::format("stage {} engine: ", stage + 1));
    ++built_;
    if (cache_.size() == kMaxEngines) {  // the least recently used stage engine goes
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    cache_[key] = {*built, lru_.begin()};
    return *built;
  }

  std::unique_ptr<Graph> graph_;
  BuildOptions options_;
  std::string precision_, reason_;
  size_t built_ = 0;
  std::list<std::string> lru_;
  std::map<std::string, std::pair<std::shared_ptr<Engine>, std::list<std::string>::iterator>> cache_;
};

}  // namespace

Expected<std::string> first_data_dependent_node(const Graph& graph) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, copy_graph(graph));
  KILN_RETURN_IF_ERROR(optimize_stage(*g));
  KILN_ASSIGN_OR_RETURN(GraphSplit split, split_at_unknown_shapes(*g));
  if (!split.tail) return std::string();
  // The head node whose output the tail cannot size: a head output with a shape not known before the run.
  for (const auto& n : split.head->nodes())
    for (const Value* o : n->outputs)
      if (o && !o->shape.is_static()) return n->describe();
  return split.tail->nodes().front()->describe();
}

std::unique_ptr<BackendRunner> make_staged_cuda_backend(std::unique_ptr<Graph> graph, const BuildOptions& options,
                                                        const std::string& precision, const std::string& reason) {
  return std::make_unique<StagedCudaBackend>(std::move(graph), options, precision, reason);
}

}  // namespace kiln
