// GPU data movement against the CPU reference: Transpose, Concat, Split, Slice (negative steps), Pad, Expand,
// Tile, Gather (negative / run-time indices), DepthToSpace, SpaceToDepth, the views, Shape/Size and Resize.
#include <cuda_runtime.h>

#include <cstring>

#include "cuda/cuda_check.h"
#include "cuda/kernels/convert.h"
#include "gpu/movement_util.h"

namespace kiln::gputest {
namespace {

using Attrs = std::map<std::string, Attribute>;

TEST(GpuLayout, Transpose) {
  for (const std::string& p : precisions()) {
    for (const auto& perm : std::vector<std::vector<int64_t>>{{1, 0, 2}, {2, 0, 1}, {0, 2, 1}}) {
      OneNode t(13);
      t.node("Transpose", {t.input(random_floats({3, 5, 7}, 1))}, {{"perm", Ints(perm)}});
      EXPECT_EQ(t.check(p), "") << p;
    }
    OneNode t5(13);
    t5.node("Transpose", {t5.input(random_floats({2, 3, 5, 4, 3}, 2))}, {{"perm", Ints({4, 2, 0, 3, 1})}});
    EXPECT_EQ(t5.check(p), "") << p;
    OneNode rev(13);  // default perm reverses the dims
    rev.node("Transpose", {rev.input(random_floats({3, 1, 9, 2}, 3))});
    EXPECT_EQ(rev.check(p), "") << p;
    // Transpose of an NHWC tensor: [0,2,3,1] is a view, [0,1,3,2] a real copy reading NHWC strides.
    for (const auto& perm : std::vector<std::vector<int64_t>>{{0, 2, 3, 1}, {0, 1, 3, 2}, {1, 0, 2, 3}}) {
      OneNode t(13);
      t.node("Transpose", {t.nhwc_input(random_floats({2, 5, 3, 7}, 4))}, {{"perm", Ints(perm)}});
      EXPECT_EQ(t.check(p), "") << p;
    }
  }
}

TEST(GpuLayout, ConcatAxes013ThreeInputs) {
  for (const std::string& p : precisions()) {
    for (int64_t axis : {0, 1, 3, -1}) {
      for (bool nhwc : {false, true}) {
        OneNode t(13);
        std::vector<Value*> ins;
        for (int64_t i = 0; i < 3; ++i) {
          Shape s{2, 3, 5, 7};
          const int64_t a = axis < 0 ? 3 : axis;
          s[a] += i * 2 - 1;  // 1, 3, 5 ... along the axis: odd sizes, all different
          Tensor x = random_floats(s, 10 + i);
          ins.push_back(nhwc && i != 1 ? t.nhwc_input(x) : t.input(x));  // mixed layouts when nhwc
        }
        t.node("Concat", ins, {{"axis", Int(axis)}});
        EXPECT_EQ(t.check(p), "") << p << " axis " << axis << (nhwc ? " mixed" : "");
      }
    }
    OneNode all(13);  // all NHWC: the output stays NHWC
    std::vector<Value*> ins;
    for (int64_t c : {3, 8, 1}) ins.push_back(all.nhwc_input(random_floats({2, c, 5, 3}, 20 + c)));
    all.node("Concat", ins, {{"axis", Int(1)}});
    EXPECT_EQ(all.check(p), "") << p;
  }
}

TEST(GpuLayout, Split) {
  for (const std::string& p : precisions()) {
    OneNode sized(13);
    sized.node("Split", {sized.input(random_floats({2, 7, 5}, 30)), sized.constant(int64s({3}, {2, 4, 1}))},
               {{"axis", Int(1)}}, 3);
    EXPECT_EQ(sized.check(p), "") << p;
    OneNode equal(13);
    equal.node("Split", {equal.nhwc_input(random_floats({2, 9, 3, 5}, 31))}, {{"axis", Int(1)}}, 3);
    EXPECT_EQ(equal.check(p), "") << p;
    OneNode last(11);  // opset 11: split attribute, negative axis
    last.node("Split", {last.input(random_floats({3, 4, 11}, 32))}, {{"axis", Int(-1)}, {"split", Ints({5, 6})}}, 2);
    EXPECT_EQ(last.check(p), "") << p;
  }
}

TEST(GpuLayout, SliceNegativeStepsAndClamping) {
  for (const std::string& p : precisions()) {
    OneNode neg(13);
    neg.node("Slice", {neg.input(random_floats({3, 7, 11}, 40)), neg.constant(int64s({2}, {-1, 10})),
                       neg.constant(int64s({2}, {-100, 1})), neg.constant(int64s({2}, {1, 2})),
                       neg.constant(int64s({2}, {-1, -3}))});
    EXPECT_EQ(neg.check(p), "") << p;
    OneNode pos(13);
    pos.node("Slice", {pos.input(random_floats({4, 9, 6}, 41)), pos.constant(int64s({3}, {1, -7, 0})),
                       pos.constant(int64s({3}, {1000, 8, -1})), pos.constant(int64s({3}, {0, 1, 2})),
                       pos.constant(int64s({3}, {2, 3, 1}))});
    EXPECT_EQ(pos.check(p), "") << p;
    OneNode nhwc(13);  // slicing H and C of an NHWC tensor keeps it NHWC
    nhwc.node("Slice", {nhwc.nhwc_input(random_floats({2, 9, 8, 5}, 42)), nhwc.constant(int64s({2}, {1, 7})),
                        nhwc.constant(int64s({2}, {8, 0})), nhwc.constant(int64s({2}, {1, 2})),
                        nhwc.constant(int64s({2}, {2, -2}))});
    EXPECT_EQ(nhwc.check(p), "") << p;
  }
}

TEST(GpuLayout, PadModes) {
  for (const std::string& p : precisions()) {
    for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
      for (bool nhwc : {false, true}) {
        OneNode t(19);  // wrap exists from opset 19
        Tensor x = random_floats({2, 3, 5, 7}, 50);
        std::vector<Value*> ins{nhwc ? t.nhwc_input(x) : t.input(x), t.constant(int64s({8}, {0, 1, 2, 3, 1, 0, 1, 2}))};
        if (std::string(mode) == "constant") ins.push_back(t.constant(floats({}, {1.5f})));
        t.node("Pad", ins, {{"mode", Str(mode)}});
        EXPECT_EQ(t.check(p), "") << p << " " << mode << (nhwc ? " nhwc" : "");
      }
    }
    OneNode crop(13);  // negative pads crop
    crop.node("Pad", {crop.input(random_floats({3, 8}, 51)), crop.constant(int64s({4}, {-1, 2, 1, -3}))});
    EXPECT_EQ(crop.check(p), "") << p;
  }
}

TEST(GpuLayout, ExpandAndTile) {
  for (const std::string& p : precisions()) {
    OneNode e(13);
    e.node("Expand", {e.input(random_floats({3, 1, 5}, 60)), e.constant(int64s({4}, {2, 3, 4, 5}))});
    EXPECT_EQ(e.check(p), "") << p;
    OneNode e2(13);
    e2.node("Expand", {e2.input(random_floats({1, 7}, 61)), e2.constant(int64s({2}, {3, 1}))});
    EXPECT_EQ(e2.check(p), "") << p;
    OneNode t(13);
    t.node("Tile", {t.input(random_floats({2, 3, 5}, 62)), t.constant(int64s({3}, {2, 1, 3}))});
    EXPECT_EQ(t.check(p), "") << p;
  }
}

TEST(GpuLayout, GatherNegativeAndRunTimeIndices) {
  for (const std::string& p : precisions()) {
    for (int64_t axis : {0, 1, -1}) {
      OneNode c(13);
      c.node("Gather", {c.input(random_floats({5, 7, 3}, 70)), c.constant(int64s({2, 2}, {-1, 0, 2, -3}))},
             {{"axis", Int(axis)}});
      EXPECT_EQ(c.check(p), "") << p << " axis " << axis;
    }
    OneNode run(13);
    run.node("Gather", {run.input(random_floats({6, 4}, 71)), run.input(int64s({5}, {5, -6, 0, 3, -1}))},
             {{"axis", Int(0)}});
    EXPECT_EQ(run.check(p), "") << p;
    OneNode i32(13);
    i32.node("Gather", {i32.input(random_floats({3, 9}, 72)), i32.input(Tensor::from_vector<int32_t>({3}, {-2, 4, 0}))},
             {{"axis", Int(1)}});
    EXPECT_EQ(i32.check(p), "") << p;
    OneNode scalar(13);
    scalar.node("Gather", {scalar.input(random_floats({4, 5}, 73)), scalar.constant(int64s({}, {-2}))},
                {{"axis", Int(1)}});
    EXPECT_EQ(scalar.check(p), "") << p;
  }
}

TEST(GpuLayout, DepthToSpaceAndSpaceToDepth) {
  for (const std::string& p : precisions()) {
    for (const char* mode : {"DCR", "CRD"}) {
      OneNode d(13);
      d.node("DepthToSpace", {d.nhwc_input(random_floats({2, 12, 3, 5}, 80))},
             {{"blocksize", Int(2)}, {"mode", Str(mode)}});
      EXPECT_EQ(d.check(p), "") << p << " " << mode;
    }
    OneNode s(13);
    s.node("SpaceToDepth", {s.input(random_floats({2, 3, 6, 9}, 81))}, {{"blocksize", Int(3)}});
    EXPECT_EQ(s.check(p), "") << p;
  }
}

TEST(GpuLayout, ViewsAndShape) {
  for (const std::string& p : precisions()) {
    OneNode r(13);  // NHWC input: converted to row-major before the view
    r.node("Reshape", {r.nhwc_input(random_floats({2, 3, 5, 7}, 90)), r.constant(int64s({3}, {0, -1, 7}))});
    EXPECT_EQ(r.check(p), "") << p;
    OneNode f(13);
    f.node("Flatten", {f.input(random_floats({2, 3, 5}, 91))}, {{"axis", Int(2)}});
    EXPECT_EQ(f.check(p), "") << p;
    OneNode sq(13);
    sq.node("Squeeze", {sq.input(random_floats({3, 1, 5, 1}, 92)), sq.constant(int64s({1}, {-1}))});
    EXPECT_EQ(sq.check(p), "") << p;
    OneNode un(13);
    un.node("Unsqueeze", {un.input(random_floats({3, 5}, 93)), un.constant(int64s({2}, {0, -1}))});
    EXPECT_EQ(un.check(p), "") << p;
    OneNode sh(15);
    sh.node("Shape", {sh.input(random_floats({3, 5, 2, 7}, 94))}, {{"start", Int(1)}, {"end", Int(-1)}});
    EXPECT_EQ(sh.check(p), "") << p;
    OneNode sz(13);
    sz.node("Size", {sz.input(random_floats({3, 5, 2}, 95))});
    EXPECT_EQ(sz.check(p), "") << p;
  }
}

// Resize at opset 13: inputs X, roi, scales, sizes.
void check_resize(const Shape& shape, const std::vector<float>& scales, const Attrs& attrs, bool nhwc, uint64_t seed) {
  for (const std::string& p : precisions()) {
    OneNode t(13);
    Tensor x = random_floats(shape, seed);
    t.node("Resize",
           {nhwc ? t.nhwc_input(x) : t.input(x), t.constant(floats({0}, {})),
            t.constant(floats({static_cast<int64_t>(scales.size())}, scales))},
           attrs);
    EXPECT_EQ(t.check(p), "") << p << " " << shape_to_string(shape) << (nhwc ? " nhwc" : "");
  }
}

TEST(GpuResize, NearestModes) {
  for (bool nhwc : {false, true}) {
    check_resize({1, 3, 5, 7}, {1, 1, 2, 2},
                 {{"mode", Str("nearest")},
                  {"coordinate_transformation_mode", Str("asymmetric")},
                  {"nearest_mode", Str("floor")}},
                 nhwc, 100);
    check_resize({2, 3, 9, 11}, {1, 1, 0.5f, 0.5f},
                 {{"mode", Str("nearest")}, {"coordinate_transformation_mode", Str("half_pixel")}}, nhwc, 101);
    check_resize({1, 2, 5, 6}, {1, 1, 3, 1.5f},
                 {{"mode", Str("nearest")},
                  {"coordinate_transformation_mode", Str("half_pixel")},
                  {"nearest_mode", Str("round_prefer_ceil")}},
                 nhwc, 102);
  }
}

TEST(GpuResize, LinearScales2AndHalf) {
  for (bool nhwc : {false, true}) {
    for (float s : {2.f, 0.5f}) {
      check_resize({2, 3, 6, 9}, {1, 1, s, s}, {{"mode", Str("linear")}}, nhwc, 110);
      check_resize({1, 3, 7, 5}, {1, 1, s, s},
                   {{"mode", Str("linear")}, {"coordinate_transformation_mode", Str("align_corners")}}, nhwc, 111);
      check_resize({1, 2, 7, 5}, {1, 1, s, s},
                   {{"mode", Str("linear")}, {"coordinate_transformation_mode", Str("pytorch_half_pixel")}}, nhwc, 112);
    }
  }
  check_resize({1, 2, 8, 10}, {1, 1, 0.5f, 0.5f}, {{"mode", Str("linear")}, {"antialias", Int(1)}}, false, 113);
}

TEST(GpuResize, CubicAndSizes) {
  check_resize({1, 2, 6, 7}, {1, 1, 2, 2}, {{"mode", Str("cubic")}}, false, 120);
  for (const std::string& p : precisions()) {
    OneNode t(13);
    t.node("Resize",
           {t.input(random_floats({1, 3, 5, 8}, 121)), t.constant(floats({0}, {})), t.constant(floats({0}, {})),
            t.constant(int64s({4}, {1, 3, 9, 4}))},
           {{"mode", Str("linear")}});
    EXPECT_EQ(t.check(p), "") << p;
  }
}


// The conversion layer's kernels directly: every float dtype pair and both layouts, on shapes that take each
// path (same layout: linear; 1 or 3 channels with pixels % 4 == 0: the image kernel; other layout changes
// with few channels / few pixels: the per-pixel loop; otherwise the tiled transpose, with sizes that are
// not multiples of its 32x32 tile). Expected values come from the CPU's
// dtype conversion and a host-side layout permutation.
namespace convert_test {

// Row-major [N,C,H,W] bytes <-> NHWC bytes, any element size.
std::vector<char> permute(const char* src, const Shape& s, size_t elem, bool to_nhwc) {
  std::vector<char> out(static_cast<size_t>(s[0] * s[1] * s[2] * s[3]) * elem);
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < s[1]; ++c)
      for (int64_t p = 0; p < s[2] * s[3]; ++p) {
        const size_t rm = static_cast<size_t>((n * s[1] + c) * s[2] * s[3] + p);
        const size_t nhwc = static_cast<size_t>((n * s[2] * s[3] + p) * s[1] + c);
        std::memcpy(out.data() + (to_nhwc ? nhwc : rm) * elem, src + (to_nhwc ? rm : nhwc) * elem, elem);
      }
  return out;
}

}  // namespace convert_test

TEST(GpuConvert, FloatDtypesAndLayouts) {
  using cuda::Layout;
  const DType types[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16};
  for (const Shape& shape : std::vector<Shape>{
           {2, 3, 5, 7}, {2, 3, 8, 6}, {3, 1, 4, 5}, {2, 37, 9, 11}, {3, 64, 2, 2}, {1, 40, 33, 35}}) {
    const Tensor x = random_floats(shape, 77);
    for (DType a : types)
      for (DType b : types)
        for (Layout la : {Layout::kRowMajor, Layout::kNHWC})
          for (Layout lb : {Layout::kRowMajor, Layout::kNHWC}) {
            SCOPED_TRACE(Tensor::create(a, shape).value().describe() + " " + cuda::layout_name(la) + " -> " +
                         dtype_name(b) + " " + cuda::layout_name(lb));
            const Tensor xa = convert_dtype(x, a).value();
            const size_t ea = dtype_size(a), eb = dtype_size(b);
            const char* raw = static_cast<const char*>(xa.raw());
            std::vector<char> host(raw, raw + xa.nbytes());
            if (la == Layout::kNHWC) host = convert_test::permute(host.data(), shape, ea, true);
            auto in = cuda::DeviceBuffer::upload(host.data(), host.size(), "convert test input");
            ASSERT_TRUE(in.ok());
            auto out = cuda::DeviceBuffer::allocate(static_cast<size_t>(x.numel()) * eb, "convert test output");
            ASSERT_TRUE(out.ok());
            cuda::DeviceTensor din{cuda::TensorDesc{a, shape, la}, in->get()};
            cuda::DeviceTensor dout{cuda::TensorDesc{b, shape, lb}, out->get()};
            Status st = cuda::enqueue_convert(din, dout, nullptr);
            ASSERT_TRUE(st.ok()) << st.to_string();
            std::vector<char> got(out->bytes());
            ASSERT_EQ(cudaMemcpy(got.data(), out->get(), got.size(), cudaMemcpyDeviceToHost), cudaSuccess);
            if (lb == Layout::kNHWC) got = convert_test::permute(got.data(), shape, eb, false);
            Tensor gb = Tensor::create(b, shape).value();
            std::memcpy(gb.raw(), got.data(), got.size());
            const Tensor want = convert_dtype(convert_dtype(xa, b).value(), DType::kFloat32).value();
            Diff d = diff(convert_dtype(gb, DType::kFloat32).value(), want, 0.0, 1e-2);
            EXPECT_EQ(d.bad, 0) << d.bad << "/" << d.n << " off, max |diff| " << d.max_abs;
          }
  }
}

}  // namespace
}  // namespace kiln::gputest
