// The activation memory planner: buffers live at the same time never overlap, dead ones are reused,
// views share their source's bytes. Runs without a GPU (planning only touches sizes and liveness).
#if KILN_WITH_CUDA
#include <gtest/gtest.h>

#include "cuda/program.h"

namespace kiln::cuda {
namespace {

int add(Program& p, size_t bytes) {
  Slot s;
  s.plan_bytes = bytes;
  p.slots.push_back(std::move(s));
  return static_cast<int>(p.slots.size()) - 1;
}

void add_layer(Program& p, std::vector<int> in, std::vector<int> out) {
  LayerEntry e;
  e.inputs = std::move(in);
  e.outputs = std::move(out);
  p.layers.push_back(std::move(e));
}

bool overlap(const Program& p, int a, int b) {
  const auto sa = static_cast<size_t>(p.slots[a].arena_offset), sb = static_cast<size_t>(p.slots[b].arena_offset);
  return sa < sb + p.slots[b].plan_bytes && sb < sa + p.slots[a].plan_bytes;
}

TEST(MemoryPlan, ChainReusesDeadBuffers) {
  // in -> L0 -> a -> L1 -> b -> L2 -> c -> L3 -> out; each 1000 bytes.
  Program p;
  const int in = add(p, 1000), a = add(p, 1000), b = add(p, 1000), c = add(p, 1000), out = add(p, 1000);
  add_layer(p, {in}, {a});
  add_layer(p, {a}, {b});
  add_layer(p, {b}, {c});
  add_layer(p, {c}, {out});
  p.input_slots = {in};
  p.output_slots = {out};
  p.plan_memory();
  // Neighbours in the chain are live together; everything else may share (sessions copy inputs in before
  // every run, so the input's buffer is free once L0 has read it).
  EXPECT_FALSE(overlap(p, in, a));
  EXPECT_FALSE(overlap(p, a, b));
  EXPECT_FALSE(overlap(p, b, c));
  EXPECT_FALSE(overlap(p, c, out));
  // Ping-pong: two 1024-byte (aligned) buffers hold the whole chain.
  EXPECT_EQ(p.arena_bytes, 2u * 1024u);
  EXPECT_EQ(p.slots[b].arena_offset, p.slots[in].arena_offset);
}

TEST(MemoryPlan, ResidualKeepsItsInputAlive) {
  // x -> L0 -> y; L1(y) -> z; L2(x, z) -> w (x is read again at the end).
  Program p;
  const int x = add(p, 4096), y = add(p, 4096), z = add(p, 4096), w = add(p, 4096);
  add_layer(p, {x}, {y});
  add_layer(p, {y}, {z});
  add_layer(p, {x, z}, {w});
  p.input_slots = {x};
  p.output_slots = {w};
  p.plan_memory();
  for (int s : {y, z, w}) EXPECT_FALSE(overlap(p, x, s));
  EXPECT_FALSE(overlap(p, y, z));
  EXPECT_FALSE(overlap(p, z, w));
  EXPECT_EQ(p.slots[w].arena_offset, p.slots[y].arena_offset);  // y died at L1, w reuses it
}

TEST(MemoryPlan, ViewsShareTheirSourceAndExtendItsLife) {
  Program p;
  const int x = add(p, 512), a = add(p, 512), v = add(p, 512), b = add(p, 512), out = add(p, 512);
  p.slots[v].alias_of = a;
  add_layer(p, {x}, {a});
  add_layer(p, {a}, {v});  // view
  add_layer(p, {x}, {b});
  add_layer(p, {v, b}, {out});
  p.input_slots = {x};
  p.output_slots = {out};
  p.plan_memory();
  EXPECT_EQ(p.slots[v].arena_offset, p.slots[a].arena_offset);
  EXPECT_FALSE(overlap(p, a, b));  // a lives (through v) until the last layer
  EXPECT_FALSE(overlap(p, a, out));
}

}  // namespace
}  // namespace kiln::cuda
#endif
