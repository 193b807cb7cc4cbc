// PReLU as one CPU kernel each way, for float32 and bfloat16 activations.
//
// TensorFlow has no PReLU op: Keras writes it as relu(x) - alpha * relu(-x), five passes over
// the activations forward and about eight backward. These two ops make one pass each way.
// Results equal Keras' formula bit for bit in both dtypes: alpha is first rounded to the
// activation dtype (as Keras' autocast does), the product of two bfloat16 values is exact in
// float32, and it is rounded to bfloat16 once, to nearest even. At x == 0 the input gradient
// is 0, as the formula's gradient gives. alpha's gradient is summed in float32 per block of
// elements and the blocks in double, in a fixed order, so it does not depend on threads.
//
// alpha holds one slope for every element, or one per channel of the last (channels-last)
// axis; the Python side (mmarctl/runtime/kernels/prelu.py) checks which before calling.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

namespace mmarctl {
namespace {

using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Tensor;
using tensorflow::shape_inference::InferenceContext;

// Elements per work unit: big enough that a unit's overhead vanishes, small enough that the
// thread pool can balance a 24^3 x 16 activation.
constexpr int64_t kBlock = 16384;

inline float widen(float v) { return v; }
inline float widen(uint16_t bits) {
  const uint32_t word = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof value);
  return value;
}

inline void narrow(float value, float* out) { *out = value; }
// Round to nearest even, NaN kept quiet: what Eigen::bfloat16's conversion does, written
// without branches so the loops vectorise.
inline void narrow(float value, uint16_t* out) {
  uint32_t word;
  std::memcpy(&word, &value, sizeof word);
  const uint32_t rounded = (word + 0x7fffu + ((word >> 16) & 1u)) >> 16;
  const bool nan = (word & 0x7fffffffu) > 0x7f800000u;
  *out = uint16_t(nan ? ((word >> 16) | 0x40u) : rounded);
}

template <typename Bits>
float in_dtype(float value) {
  Bits bits;
  narrow(value, &bits);
  return widen(bits);
}

// The loops take raw, non-aliasing pointers in their own functions: written inline in the
// sharding lambda, GCC reloaded the captured pointers every element and the gradient ran
// 13x slower on the pool's threads.
template <typename Bits>
__attribute__((noinline)) void forward(const Bits* __restrict x, Bits* __restrict y, int64_t n,
                                       const float* __restrict alpha, int64_t channels) {
  if (channels == 1) {
    const float slope = alpha[0];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float v = widen(x[i]);
      narrow(v > 0.f ? v : slope * v, y + i);
    }
    return;
  }
  for (int64_t row = 0; row < n; row += channels) {
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) {
      const float v = widen(x[row + c]);
      narrow(v > 0.f ? v : alpha[c] * v, y + row + c);
    }
  }
}

template <typename Bits>
__attribute__((noinline)) void backward(const Bits* __restrict dy, const Bits* __restrict x,
                                        Bits* __restrict dx, int64_t n,
                                        const float* __restrict alpha, int64_t channels,
                                        float* __restrict alpha_sums) {
  if (channels == 1) {
    const float slope = alpha[0];
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) {
      const float v = widen(x[i]), g = widen(dy[i]);
      narrow(v > 0.f ? g : (v < 0.f ? slope * g : 0.f), dx + i);
      sum += g * std::min(v, 0.f);
    }
    alpha_sums[0] = sum;
    return;
  }
  std::fill(alpha_sums, alpha_sums + channels, 0.f);
  for (int64_t row = 0; row < n; row += channels) {
#pragma omp simd
    for (int64_t c = 0; c < channels; ++c) {
      const float v = widen(x[row + c]), g = widen(dy[row + c]);
      narrow(v > 0.f ? g : (v < 0.f ? alpha[c] * g : 0.f), dx + row + c);
      alpha_sums[c] += g * std::min(v, 0.f);
    }
  }
}

template <typename T> struct BitsOf { using type = float; };
template <> struct BitsOf<tensorflow::bfloat16> { using type = uint16_t; };

template <typename Bits>
const Bits* data(const Tensor& t) { return reinterpret_cast<const Bits*>(t.tensor_data().data()); }
template <typename Bits>
Bits* data(Tensor* t) { return reinterpret_cast<Bits*>(const_cast<char*>(t->tensor_data().data())); }

// alpha rounded to the activation dtype; fails the op (ctx's status) unless it fits x's
// last axis.
template <typename Bits>
void slopes(OpKernelContext* ctx, const Tensor& x, const Tensor& alpha, std::vector<float>* out) {
  const int64_t channels = alpha.NumElements();
  const int64_t last = x.dims() ? x.dim_size(x.dims() - 1) : 1;
  OP_REQUIRES(ctx, alpha.dims() == 1 && (channels == 1 || channels == last),
              tensorflow::errors::InvalidArgument(
                  "alpha must hold 1 slope or one per channel of x's last axis (", last,
                  "); got shape ", alpha.shape().DebugString()));
  out->resize(channels);
  for (int64_t c = 0; c < channels; ++c) (*out)[c] = in_dtype<Bits>(alpha.flat<float>()(c));
}

int64_t block_for(int64_t channels) { return channels * std::max<int64_t>(1, kBlock / channels); }

// Calls visit(b, begin, end) for each block b of elements [begin, end) of n, shared out over
// the op's thread pool; cost is the work per element, in TensorFlow's units.
template <typename Visit>
void for_each_block(OpKernelContext* ctx, int64_t n, int64_t block, int64_t cost, Visit visit) {
  auto* pool = ctx->device()->tensorflow_cpu_worker_threads();
  tensorflow::Shard(pool->num_threads, pool->workers, (n + block - 1) / block, block * cost,
                    [&](int64_t first, int64_t last) {
                      for (int64_t b = first; b < last; ++b) {
                        visit(b, b * block, std::min(n, (b + 1) * block));
                      }
                    });
}

template <typename T>
class PreluOp : public OpKernel {
 public:
  explicit PreluOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    using Bits = typename BitsOf<T>::type;
    const Tensor& x = ctx->input(0);
    std::vector<float> alpha;
    slopes<Bits>(ctx, x, ctx->input(1), &alpha);
    if (!ctx->status().ok()) return;
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &y));
    const int64_t n = x.NumElements(), channels = alpha.size(), block = block_for(channels);
    const Bits* in = data<Bits>(x);
    Bits* out = data<Bits>(y);
    for_each_block(ctx, n, block, 2, [&](int64_t, int64_t begin, int64_t end) {
      forward(in + begin, out + begin, end - begin, alpha.data(), channels);
    });
  }
};

template <typename T>
class PreluGradOp : public OpKernel {
 public:
  explicit PreluGradOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    using Bits = typename BitsOf<T>::type;
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    OP_REQUIRES(ctx, dy.shape() == x.shape(),
                tensorflow::errors::InvalidArgument("dy and x differ in shape: ",
                                                    dy.shape().DebugString(), " and ",
                                                    x.shape().DebugString()));
    std::vector<float> alpha;
    slopes<Bits>(ctx, x, ctx->input(2), &alpha);
    if (!ctx->status().ok()) return;
    Tensor* dx = nullptr;
    Tensor* dalpha = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, ctx->input(2).shape(), &dalpha));
    const int64_t n = x.NumElements(), channels = alpha.size(), block = block_for(channels);
    const int64_t blocks = (n + block - 1) / block;
    std::vector<float> sums(blocks * channels, 0.f);
    const Bits* g = data<Bits>(dy);
    const Bits* in = data<Bits>(x);
    Bits* out = data<Bits>(dx);
    for_each_block(ctx, n, block, 3, [&](int64_t b, int64_t begin, int64_t end) {
      backward(g + begin, in + begin, out + begin, end - begin, alpha.data(), channels,
               sums.data() + b * channels);
    });
    auto result = dalpha->flat<float>();
    for (int64_t c = 0; c < channels; ++c) {
      double total = 0.0;
      for (int64_t b = 0; b < blocks; ++b) total += sums[b * channels + c];
      result(c) = static_cast<float>(total);
    }
  }
};

}  // namespace
}  // namespace mmarctl

REGISTER_OP("MmarctlPrelu")
    .Input("x: T")
    .Input("alpha: float")
    .Output("y: T")
    .Attr("T: {float, bfloat16}")
    .SetShapeFn([](mmarctl::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    });

REGISTER_OP("MmarctlPreluGrad")
    .Input("dy: T")
    .Input("x: T")
    .Input("alpha: float")
    .Output("dx: T")
    .Output("dalpha: float")
    .Attr("T: {float, bfloat16}")
    .SetShapeFn([](mmarctl::InferenceContext* c) {
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(2));
      return absl::OkStatus();
    });

#define MMARCTL_REGISTER(T)                                                                  \
  REGISTER_KERNEL_BUILDER(                                                                   \
      Name("MmarctlPrelu").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),            \
      mmarctl::PreluOp<T>);                                                                  \
  REGISTER_KERNEL_BUILDER(                                                                   \
      Name("MmarctlPreluGrad").Device(tensorflow::DEVICE_CPU).TypeConstraint<T>("T"),        \
      mmarctl::PreluGradOp<T>);
MMARCTL_REGISTER(float)
MMARCTL_REGISTER(tensorflow::bfloat16)
#undef MMARCTL_REGISTER
