// Reading EXPLAIN AST back into a tree, and the answer shapes: pure logic.
import { describe, expect, it } from 'vitest'
import { MalformedAstError, parseExplainAst } from '../../query/sql/explain-ast.ts'
import { columnarAnswer, csvAnswer, jsonAnswer } from '../../query/sql/result-shapes.ts'

const DUMP = [
  'SelectWithUnionQuery (children 1)',
  ' ExpressionList (children 1)',
  '  SelectQuery (children 2)',
  '   ExpressionList (children 1)',
  '    Function plus (alias total) (children 1)',
  '     ExpressionList (children 2)',
  '      Identifier value',
  '      Literal UInt64_1',
  '   TablesInSelectQuery (children 1)',
  '    TablesInSelectQueryElement (children 1)',
  '     TableExpression (children 1)',
  '      TableIdentifier samples (alias s)',
]

describe('parseExplainAst', () => {
  it('reads types, labels, aliases and children', () => {
    const root = parseExplainAst(DUMP)
    const select = root.children[0]!.children[0]!
    const plus = select.children[0]!.children[0]!
    expect(plus).toMatchObject({ type: 'Function', label: 'plus', alias: 'total' })
    expect(plus.children[0]!.children.map((c) => c.label)).toEqual(['value', 'UInt64_1'])
    const table = select.children[1]!.children[0]!.children[0]!.children[0]!
    expect(table).toMatchObject({ type: 'TableIdentifier', label: 'samples', alias: 's', children: [] })
  })

  it('refuses a dump where a name broke a line and forged a node', () => {
    // SELECT 1 AS `a\n TableIdentifier x`: the alias's line break makes a line of its own.
    const forged = ['SelectWithUnionQuery (children 1)', ' ExpressionList (children 1)', '  SelectQuery (children 1)', '   ExpressionList (children 1)', '    Literal UInt64_1 (alias a', ' TableIdentifier x)']
    expect(() => parseExplainAst(forged)).toThrow(MalformedAstError)
    expect(() => parseExplainAst([...DUMP, 'b'])).toThrow(/more than one root/)
    expect(() => parseExplainAst([...DUMP.slice(0, 6), '        Identifier skipped'])).toThrow(/skips a level/)
  })

  it('reads an alias that itself looks like a children count', () => {
    const root = parseExplainAst(['Identifier x (alias y (children 5)) (children 0)'])
    expect(root).toMatchObject({ label: 'x', alias: 'y (children 5)' })
  })
})

describe('answer shapes', () => {
  const answer = {
    columns: [
      { name: 'ts', type: "DateTime64(3, 'UTC')" },
      { name: 'n', type: 'UInt64' },
      { name: 'big', type: 'Nullable(UInt64)' },
      { name: 'label', type: 'String' },
    ],
    rows: [
      ['2026-01-01T00:00:00.000Z', '3', '18446744073709551615', 'plain'],
      ['2026-01-01T00:01:00.000Z', '4', null, 'a "quoted", line\nbreak'],
    ],
    rowCount: 2,
    truncated: false,
    elapsedMs: 1,
  }

  it('turns exact 64-bit integers into numbers and keeps the others as strings', () => {
    expect(jsonAnswer(answer).rows).toEqual([
      ['2026-01-01T00:00:00.000Z', 3, '18446744073709551615', 'plain'],
      ['2026-01-01T00:01:00.000Z', 4, null, 'a "quoted", line\nbreak'],
    ])
  })

  it('answers columns with instants in epoch milliseconds', () => {
    const columnar = columnarAnswer(answer)
    expect(columnar.data[0]).toEqual([Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1, 0, 1)])
    expect(columnar.data[1]).toEqual([3, 4])
    expect(columnar).not.toHaveProperty('rows')
  })

  it('writes RFC 4180 CSV', () => {
    expect(csvAnswer(answer)).toBe(
      'ts,n,big,label\r\n2026-01-01T00:00:00.000Z,3,18446744073709551615,plain\r\n2026-01-01T00:01:00.000Z,4,,"a ""quoted"", line\nbreak"\r\n'
    )
  })
})
