// String literals as PromQL and Go templates read them (Go's strconv.Unquote):
// "…" and '…' with backslash escapes, `…` raw.

const SIMPLE_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"', "'": "'" }

/** The value of a quoted literal; throws naming the bad escape. */
export function unquoteGoString(literal: string): string {
  const quote = literal[0]
  if (literal.length < 2 || literal[literal.length - 1] !== quote || (quote !== '"' && quote !== "'" && quote !== '`')) {
    throw new Error(`${literal} is not a complete string literal`)
  }
  const body = literal.slice(1, -1)
  if (quote === '`') return body
  let out = ''
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string
    if (c !== '\\') {
      if (c === quote || c === '\n') throw new Error(`unexpected ${JSON.stringify(c)} in string literal ${literal}`)
      out += c
      continue
    }
    const e = body[++i]
    if (e === undefined) throw new Error(`string literal ${literal} ends in a backslash`)
    if (e in SIMPLE_ESCAPES) {
      if ((e === '"' || e === "'") && e !== quote) throw new Error(`unknown escape sequence \\${e} in ${literal}`)
      out += SIMPLE_ESCAPES[e]
      continue
    }
    const hexLength = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0
    if (hexLength > 0) {
      const hex = body.slice(i + 1, i + 1 + hexLength)
      if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) throw new Error(`invalid escape \\${e}${hex} in ${literal}`)
      const code = parseInt(hex, 16)
      // \xNN is a byte in Go; bytes above 0x7f would make invalid UTF-8, which label values cannot hold.
      if (e === 'x' && code > 0x7f) throw new Error(`escape \\x${hex} is not valid UTF-8 in ${literal}`)
      if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw new Error(`escape \\${e}${hex} is not a valid code point in ${literal}`)
      out += String.fromCodePoint(code)
      i += hexLength
      continue
    }
    if (e >= '0' && e <= '7') {
      const oct = body.slice(i, i + 3)
      if (!/^[0-7]{3}$/.test(oct)) throw new Error(`invalid octal escape \\${oct} in ${literal}`)
      const code = parseInt(oct, 8)
      if (code > 0x7f) throw new Error(`escape \\${oct} is not valid UTF-8 in ${literal}`)
      out += String.fromCharCode(code)
      i += 2
      continue
    }
    throw new Error(`unknown escape sequence \\${e} in ${literal}`)
  }
  return out
}
