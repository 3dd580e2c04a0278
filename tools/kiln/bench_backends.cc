// The CPU reference backend of kiln bench / kiln sweep: a fixed batch, or a random batch per iteration.
#include "tools/kiln/bench_backends.h"

#include "bench/batch.h"
#include "core/random.h"
#include "cpu/executor.h"
#include "onnx/importer.h"
#include "tools/kiln/cli_util.h"

namespace kiln::cli {

namespace {

// Seeded random feeds for every (now static) input; input i's stream depends only on the seed and i.
Expected<TensorMap> make_feeds(const Graph& g, uint64_t seed) {
  TensorMap feeds;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Value* in = g.inputs[i];
    KILN_RETURN_IF_ERROR(require_static_input(*in, "(kiln bench feeds seeded random data)"));
    KILN_ASSIGN_OR_RETURN(Tensor t, random_tensor(in->dtype, *in->shape.to_static(), splitmix64(seed ^ splitmix64(i))));
    feeds[in->name] = std::move(t);
  }
  return feeds;
}

struct Prepared {
  std::unique_ptr<Graph> graph;
  TensorMap feeds;
};

// Loads the model with `shapes` applied (dim 0 of every input set to `batch` when > 0) and makes feeds.
Expected<Prepared> prepare(const CaseRequest& r, int64_t batch) {
  Prepared p;
  KILN_ASSIGN_OR_RETURN(p.graph, load_onnx(r.model));
  std::map<std::string, Shape> shapes = r.shapes;
  if (batch > 0) {
    KILN_ASSIGN_OR_RETURN(shapes, bench::batch_shapes(*p.graph, r.shapes, batch));
  }
  KILN_RETURN_IF_ERROR(apply_input_shapes(*p.graph, shapes));
  KILN_ASSIGN_OR_RETURN(p.feeds, make_feeds(*p.graph, r.seed));
  return p;
}

int64_t first_batch(const Prepared& p) {
  if (p.graph->inputs.empty()) return 1;
  const Tensor& t = p.feeds.at(p.graph->inputs.front()->name);
  return t.rank() > 0 ? t.dim(0) : 1;
}

Expected<bench::BenchCase> cpu_random(const CaseRequest& r, const bench::Nvml& nvml) {
  std::map<int64_t, Prepared> by_batch;
  for (int64_t b = r.random_min; b <= r.random_max; ++b) {
    KILN_ASSIGN_OR_RETURN(by_batch[b], prepare(r, b));
  }
  // Batches drawn in call order (warm-up first); the timed ones are the last `iterations` draws.
  std::vector<int64_t> drawn;
  uint64_t state = r.seed ^ 0x6b696c6e2d64796eULL;
  const auto span = static_cast<uint64_t>(r.random_max - r.random_min + 1);
  auto infer = [&]() -> Status {
    state = splitmix64(state);
    const int64_t b = r.random_min + static_cast<int64_t>(state % span);
    drawn.push_back(b);
    const Prepared& p = by_batch.at(b);
    auto out = run_cpu(*p.graph, p.feeds);
    return out.ok() ? Status::Ok() : out.status();
  };
  KILN_ASSIGN_OR_RETURN(bench::BenchCase c, bench::measure_case(infer, r.runner, r.percentiles, nvml, 1));
  const size_t n = c.run.times.size();
  std::vector<int64_t> timed(drawn.end() - static_cast<std::ptrdiff_t>(n), drawn.end());
  int64_t samples = 0;
  for (int64_t b : timed) samples += b;
  c.batch = 0;
  c.throughput.samples_per_s = c.run.wall_s > 0 ? static_cast<double>(samples) / c.run.wall_s : 0;
  c.extra["dynamic"] = {
      {"kind", "random"}, {"min", r.random_min}, {"max", r.random_max}, {"batches", timed}, {"seed", r.seed}};
  for (const auto& [name, t] : by_batch.at(r.random_max).feeds) c.input_shapes[name] = t.shape();
  return c;
}

}  // namespace

Expected<bench::BenchCase> bench_cpu_case(const CaseRequest& r, const bench::Nvml& nvml) {
  if (r.precision != "fp32")
    return unsupported("the CPU reference computes in fp32 only (asked for " + r.precision + ")");
  bench::BenchCase c;
  if (r.random_min > 0) {
    KILN_ASSIGN_OR_RETURN(c, cpu_random(r, nvml));
  } else {
    KILN_ASSIGN_OR_RETURN(Prepared p, prepare(r, r.batch));
    const Graph& g = *p.graph;
    const TensorMap& feeds = p.feeds;
    auto infer = [&g, &feeds]() -> Status {
      auto out = run_cpu(g, feeds);
      return out.ok() ? Status::Ok() : out.status();
    };
    const int64_t batch = r.batch > 0 ? r.batch : first_batch(p);
    KILN_ASSIGN_OR_RETURN(c, bench::measure_case(infer, r.runner, r.percentiles, nvml, batch));
    for (const auto& [name, t] : feeds) c.input_shapes[name] = t.shape();
  }
  c.backend = "cpu";
  c.precision = "fp32";
  c.mode = "reference";
  c.timing = "wall";
  return c;
}

}  // namespace kiln::cli
