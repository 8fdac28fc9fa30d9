// Alert templates render as Prometheus renders them: the expected strings below are what
// promtool 2.42 printed for the same template and values (test/fixtures/rules has the file).
import { describe, expect, it } from 'vitest'
import { compileTemplate, type TemplateData } from '../../engine/rules/template.ts'

const data = (value: number, labels: Record<string, string> = {}): TemplateData => ({ labels, value, externalLabels: { region: 'eu' }, externalUrl: 'http://tm' })

const NUMBERS = compileTemplate(
  '{{ $value }}|{{ humanize $value }}|{{ humanize1024 $value }}|{{ humanizePercentage $value }}|{{ humanizeDuration $value }}|{{ printf "%.2f" $value }}|{{ $value | printf "%.3g" }}|{{printf "%e" $value}}'
)

// [value, what promtool rendered]
const PROMTOOL_RENDERED: [number, string][] = [
  [85, '85|85|85|8500%|1m 25s|85.00|85|8.500000e+01'],
  [0.125, '0.125|125m|0.125|12.5%|125ms|0.12|0.125|1.250000e-01'],
  [1234567, '1.234567e+06|1.235M|1.177Mi|1.235e+08%|14d 6h 56m 7s|1234567.00|1.23e+06|1.234567e+06'],
  [100000, '100000|100k|97.66ki|1e+07%|1d 3h 46m 40s|100000.00|1e+05|1.000000e+05'],
  [1000000, '1e+06|1M|976.6ki|1e+08%|11d 13h 46m 40s|1000000.00|1e+06|1.000000e+06'],
  [0.0001, '0.0001|100u|0.0001|0.01%|100us|0.00|0.0001|1.000000e-04'],
  [0.00001, '1e-05|10u|1e-05|0.001%|10us|0.00|1e-05|1.000000e-05'],
  [123456.7, '123456.7|123.5k|120.6ki|1.235e+07%|1d 10h 17m 36s|123456.70|1.23e+05|1.234567e+05'],
  [1e21, '1e+21|1Z|867.4Ei|1e+23%|-106751991167300d -15h -30m -8s|1000000000000000000000.00|1e+21|1.000000e+21'],
  [1e300, '1e+300|1e+276Y|8.272e+275Yi|1e+302%|-106751991167300d -15h -30m -8s|1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160.00|1e+300|1.000000e+300'],
  [5e-324, '5e-324|4.941e-300y|4.941e-324|4.941e-322%|4.941e-300ys|0.00|4.94e-324|4.940656e-324'],
  [0.3333333333333333, '0.3333333333333333|333.3m|0.3333|33.33%|333.3ms|0.33|0.333|3.333333e-01'],
  [90061.5, '90061.5|90.06k|87.95ki|9.006e+06%|1d 1h 1m 1s|90061.50|9.01e+04|9.006150e+04'],
  [3601, '3601|3.601k|3.517ki|3.601e+05%|1h 0m 1s|3601.00|3.6e+03|3.601000e+03'],
  [59.5, '59.5|59.5|59.5|5950%|59.5s|59.50|59.5|5.950000e+01'],
  [0.0005, '0.0005|500u|0.0005|0.05%|500us|0.00|0.0005|5.000000e-04'],
  [1024, '1024|1.024k|1ki|1.024e+05%|17m 4s|1024.00|1.02e+03|1.024000e+03'],
  [1048576, '1.048576e+06|1.049M|1Mi|1.049e+08%|12d 3h 16m 16s|1048576.00|1.05e+06|1.048576e+06'],
  [2.5, '2.5|2.5|2.5|250%|2.5s|2.50|2.5|2.500000e+00'],
  [1e-7, '1e-07|100n|1e-07|1e-05%|100ns|0.00|1e-07|1.000000e-07'],
  [Infinity, '+Inf|+Inf|+Inf|+Inf%|+Inf|+Inf|+Inf|+Inf'],
  [1.2345678901234567e19, '1.2345678901234567e+19|12.35E|10.71Ei|1.235e+21%|-106751991167300d -15h -30m -8s|12345678901234567168.00|1.23e+19|1.234568e+19'],
  [0.30000000000000004, '0.30000000000000004|300m|0.3|30%|300ms|0.30|0.3|3.000000e-01'],]

describe('numbers print as Go prints them', () => {
  it.each(PROMTOOL_RENDERED)('%s', (value, expected) => {
    expect(NUMBERS.render(data(value))).toBe(expected)
  })

  it('prints zero as 0 under %g, %v and humanize', () => {
    expect(compileTemplate('{{ $value }} {{ humanize $value }} {{ printf "%.4g" $value }}').render(data(0))).toBe('0 0 0')
  })
})

describe('labels, fields and functions', () => {
  it('reads $labels, .Labels, $externalLabels, $externalURL; a missing label is empty', () => {
    const t = compileTemplate('{{ $labels.host }}/{{ .Labels.host | toUpper }}/{{ $labels.nope }}/{{ $externalLabels.region }}/{{ $externalURL }}/{{ index $labels "host" }}')
    expect(t.render(data(1, { host: 'web-1' }))).toBe('web-1/WEB-1//eu/http://tm/web-1')
  })

  it('trims around {{- -}} and skips comments', () => {
    expect(compileTemplate('a  {{- $labels.h -}}  b{{/* note */}}').render(data(1, { h: 'x' }))).toBe('axb')
  })

  it('knows which templates read $value and which are constant', () => {
    expect(compileTemplate('{{ $value }}').usesValue).toBe(true)
    expect(compileTemplate('{{ .Value | humanize }}').usesValue).toBe(true)
    expect(compileTemplate('{{ $labels.host }}').usesValue).toBe(false)
    expect(compileTemplate('page').constant).toBe(true)
  })

  it('prints a Go error for a misuse it can only see at render time, as Prometheus does', () => {
    expect(compileTemplate('{{ $value.x }}').render(data(1))).toBe("<error expanding template: can't evaluate field x in type float64>")
    expect(compileTemplate('{{ printf "%d" $value }}').render(data(3))).toBe('%!d(float64=3)')
    expect(compileTemplate('{{ printf "%d" 3 }}').render(data(3))).toBe('3')
  })
})

describe('refused when the rule loads, naming the part', () => {
  it.each([
    ['{{ if $value }}x{{ end }}', '"if" is not supported'],
    ['{{ range $labels }}x{{ end }}', '"range" is not supported'],
    ['{{ query "up" }}', 'function "query" is not supported (Tidemark templates cannot run queries)'],
    ['{{ reReplaceAll "a" "b" $labels.x }}', 'function "reReplaceAll" is not supported'],
    ['{{ $x := 1 }}', 'variable $x is not defined'],
    ['{{ $labels.a := 1 }}', 'variable declarations are not supported'],
    ['{{ humanize }}', 'function "humanize" takes 1 argument, got 0'],
    ['{{ .Nope }}', 'field .Nope does not exist'],
    ['{{ $value ', 'unclosed action'],
  ])('%s', (source, message) => {
    expect(() => compileTemplate(source)).toThrow(message)
  })
})
