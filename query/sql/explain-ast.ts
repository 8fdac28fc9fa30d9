// Reads ClickHouse's `EXPLAIN AST` dump back into a tree. The dump is one line
// per node, indented one space per level: `Function plus (alias x) (children 1)`.
//
// ClickHouse prints names as they are, so a name holding a line break splits
// its line in two and could forge nodes. Every node states how many children it
// has, and every extra line becomes somebody's child, so a forged line always
// breaks a count somewhere: the reader checks every count and refuses the dump
// when one is off.

export interface AstNode {
  /** ClickHouse's node type: SelectQuery, Function, TableIdentifier, … */
  type: string
  /** What follows the type: a function's or identifier's name, a literal. */
  label: string
  alias: string | undefined
  children: AstNode[]
}

export class MalformedAstError extends Error {}

const LINE = /^( *)(\S+)(?: (.*))?$/
const CHILDREN = / \(children (\d+)\)$/
const ALIAS = / \(alias (.*)\)$/

export function parseExplainAst(lines: readonly string[]): AstNode {
  const stack: Array<{ node: AstNode; declared: number }> = []
  const checks: Array<{ node: AstNode; declared: number }> = []
  let root: AstNode | undefined
  for (const line of lines) {
    const m = LINE.exec(line)
    if (!m) throw new MalformedAstError(`unreadable line ${JSON.stringify(line.slice(0, 80))}`)
    const depth = (m[1] as string).length
    // The suffixes come off from the end: children last, alias before it, the label is what remains.
    let rest = m[3] === undefined ? '' : ' ' + m[3]
    const children = CHILDREN.exec(rest)
    if (children) rest = rest.slice(0, children.index)
    const alias = ALIAS.exec(rest)
    if (alias) rest = rest.slice(0, alias.index)
    const node: AstNode = { type: m[2] as string, label: rest.slice(1), alias: alias?.[1], children: [] }
    const entry = { node, declared: children ? Number(children[1]) : 0 }
    checks.push(entry)
    if (depth === 0) {
      if (root) throw new MalformedAstError('more than one root')
      root = node
    } else {
      if (depth > stack.length) throw new MalformedAstError(`line ${JSON.stringify(line.slice(0, 80))} skips a level`)
      const parent = stack[depth - 1]
      if (!parent) throw new MalformedAstError('a node without a parent')
      parent.node.children.push(node)
    }
    stack.length = depth
    stack.push(entry)
  }
  if (!root) throw new MalformedAstError('empty dump')
  for (const { node, declared } of checks) {
    if (node.children.length !== declared) throw new MalformedAstError(`${node.type} declares ${declared} children and has ${node.children.length}`)
  }
  return root
}

/** Every node, parents before children, with its parent. */
export function* walk(node: AstNode, parent: AstNode | undefined = undefined): Generator<{ node: AstNode; parent: AstNode | undefined }> {
  yield { node, parent }
  for (const child of node.children) yield* walk(child, node)
}
