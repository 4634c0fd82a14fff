// SSIM (Wang et al., IEEE TIP 2004) with a separable Gaussian window: the maths shared by the
// OpenMP CPU loops (ssim_cpu.cpp) and the CUDA kernel (ssim_cuda.cu).
//
// Per channel: mu_p = G2*p, mu_t = G2*t, s_pp = G2*(p p), s_tt = G2*(t t), s_pt = G2*(p t), with
// G2 = g g^T the K x K window (g: the normalised 1-D Gaussian, K odd). The map value is
//   S = (2 mu_p mu_t + C1)(2 (s_pt - mu_p mu_t) + C2)
//       / ((mu_p^2 + mu_t^2 + C1)((s_pp - mu_p^2)_+ + (s_tt - mu_t^2)_+ + C2)),
// term by term as torchmetrics writes it. Region "valid": the (H-K+1) x (W-K+1) windows inside
// the image; "same": the H x W map of the image reflect-padded by K/2 (torch's "reflect": the edge
// pixel is not repeated). lpfk/ops/ssim.py divides the float64 sum of S by the count.
#pragma once

#include "lpfk_common.h"

namespace lpfk {

// Index into [0, n) of position i of a signal reflect-padded by `pad` (i in [0, n + 2 pad)),
// or of the valid region's input when pad = 0. Needs pad < n.
LPFK_HD int ssim_source(int i, int n, int pad) {
  int j = i - pad;
  if (j < 0) j = -j;
  if (j >= n) j = 2 * (n - 1) - j;
  return j;
}

// The map value from the five filtered moments.
template <class T>
LPFK_HD T ssim_value(T mp, T mt, T spp, T stt, T spt, T c1, T c2) {
  const T mu_pp = mp * mp, mu_tt = mt * mt, mu_pt = mp * mt;
  T vp = spp - mu_pp, vt = stt - mu_tt;
  vp = vp > T(0) ? vp : T(0);
  vt = vt > T(0) ? vt : T(0);
  const T upper = T(2) * (spt - mu_pt) + c2;
  const T lower = vp + vt + c2;
  return ((T(2) * mu_pt + c1) * upper) / ((mu_pp + mu_tt + c1) * lower);
}

}  // namespace lpfk
