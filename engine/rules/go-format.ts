// Go's number formatting, as Prometheus' alert templates print numbers:
// `{{ $value }}` is fmt's %v (shortest digits, exponent from 1e+06 and below
// 1e-04), `humanize` is %.4g, `printf "%.2f"` rounds half to even on the exact
// binary value. promtool compares rendered annotations as text, so these must
// match Go to the character; test/unit/rules-template.test.ts holds strings
// promtool 2.42 printed. Exact digits come from BigInt arithmetic: slow, but
// only templates use it, never the per-sample path.

interface Decimal {
  /** Significant digits, no leading or trailing zeros; "" for zero. */
  digits: string
  /** Position of the decimal point: value = 0.digits × 10^point. */
  point: number
}

const view = new DataView(new ArrayBuffer(8))

/** The exact decimal expansion of a finite, non-negative double. */
function exactDecimal(x: number): Decimal {
  if (x === 0) return { digits: '', point: 0 }
  view.setFloat64(0, x)
  const hi = view.getUint32(0)
  const lo = view.getUint32(4)
  const biased = (hi >>> 20) & 0x7ff
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo)
  let exp2: number
  if (biased === 0) {
    exp2 = -1074
  } else {
    mantissa |= 1n << 52n
    exp2 = biased - 1075
  }
  let digits: string
  let point: number
  if (exp2 >= 0) {
    digits = (mantissa << BigInt(exp2)).toString()
    point = digits.length
  } else {
    // m / 2^k = m * 5^k / 10^k
    digits = (mantissa * 5n ** BigInt(-exp2)).toString()
    point = digits.length + exp2
  }
  return trim({ digits, point })
}

function trim(d: Decimal): Decimal {
  let end = d.digits.length
  while (end > 0 && d.digits.charCodeAt(end - 1) === 48) end--
  return end === d.digits.length ? d : { digits: d.digits.slice(0, end), point: end === 0 ? 0 : d.point }
}

/** Keeps `keep` significant digits, rounding half to even as Go's strconv does on exact values. */
function round(d: Decimal, keep: number): Decimal {
  const nd = d.digits.length
  if (keep >= nd) return d
  if (keep < 0) return { digits: '', point: 0 }
  const next = d.digits.charCodeAt(keep) - 48
  let up = next > 5
  if (next === 5) {
    const restNonZero = keep + 1 < nd // trimmed: any digit after the 5 is a non-zero tail
    up = restNonZero || (keep > 0 && (d.digits.charCodeAt(keep - 1) - 48) % 2 === 1)
  }
  if (!up) return trim({ digits: d.digits.slice(0, keep), point: d.point })
  // Add one at the last kept digit, carrying left.
  const kept = d.digits.slice(0, keep).split('')
  let i = keep - 1
  while (i >= 0 && kept[i] === '9') {
    kept[i] = '0'
    i--
  }
  if (i < 0) return trim({ digits: '1' + kept.join(''), point: d.point + 1 })
  kept[i] = String.fromCharCode((kept[i] as string).charCodeAt(0) + 1)
  return trim({ digits: kept.join(''), point: d.point })
}

/** Shortest digits that read back as x (JS and Go agree on these). */
function shortestDecimal(x: number): Decimal {
  if (x === 0) return { digits: '', point: 0 }
  const [mantissa, exponent] = x.toExponential().split('e') as [string, string]
  const digits = mantissa.replace('.', '')
  return trim({ digits, point: Number(exponent) + 1 })
}

function digitAt(d: Decimal, i: number): string {
  return i >= 0 && i < d.digits.length ? (d.digits[i] as string) : '0'
}

function formatE(d: Decimal, prec: number, sign: string): string {
  let text = sign + digitAt(d, 0)
  if (prec > 0) {
    text += '.'
    for (let i = 1; i <= prec; i++) text += digitAt(d, i)
  }
  const exp = d.digits.length === 0 ? 0 : d.point - 1
  const abs = Math.abs(exp)
  return `${text}e${exp < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`
}

function formatF(d: Decimal, prec: number, sign: string): string {
  let text = sign
  if (d.point > 0) {
    for (let i = 0; i < d.point; i++) text += digitAt(d, i)
  } else {
    text += '0'
  }
  if (prec > 0) {
    text += '.'
    for (let i = 0; i < prec; i++) text += digitAt(d, d.point + i)
  }
  return text
}

function special(x: number, plusInf = '+Inf'): string | undefined {
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return plusInf
  if (x === -Infinity) return '-Inf'
  return undefined
}

function signOf(x: number): string {
  return x < 0 || Object.is(x, -0) ? '-' : ''
}

/** Go's %g with a precision, or shortest (%v) when prec is undefined. */
export function formatG(x: number, prec?: number): string {
  const s = special(x)
  if (s !== undefined) return s
  const sign = signOf(x)
  const abs = Math.abs(x)
  let d: Decimal
  let p: number
  let eprec: number
  if (prec === undefined) {
    d = shortestDecimal(abs)
    p = Math.max(d.digits.length, 1)
    eprec = 6
  } else {
    p = prec === 0 ? 1 : prec
    d = round(exactDecimal(abs), p)
    eprec = p
    if (eprec > d.digits.length && d.digits.length >= d.point) eprec = d.digits.length
  }
  const nd = d.digits.length
  // Zero has point 0, so exp -1: it prints as "0", never "0e+00".
  const exp = d.point - 1
  if (exp < -4 || exp >= eprec) {
    if (p > nd) p = nd
    return formatE(d, Math.max(p - 1, 0), sign)
  }
  if (p > d.point) p = nd
  return formatF(d, Math.max(p - d.point, 0), sign)
}

/** Go's %e with a precision (default 6). */
export function formatExp(x: number, prec = 6): string {
  const s = special(x)
  if (s !== undefined) return s
  return formatE(round(exactDecimal(Math.abs(x)), prec + 1), prec, signOf(x))
}

/** Go's %f with a precision (default 6). */
export function formatFixed(x: number, prec = 6): string {
  const s = special(x)
  if (s !== undefined) return s
  const d = exactDecimal(Math.abs(x))
  return formatF(round(d, d.point + prec), prec, signOf(x))
}

/** fmt's %v of a float64, which is what `{{ $value }}` prints. */
export function formatValue(x: number): string {
  return formatG(x)
}
