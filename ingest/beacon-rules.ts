// What the beacon schema (engine/model/beacon-schema.ts, the one source) asks of
// a beacon, read from it once into plain checks, and a check of a parsed body by
// them: ingest's fast paths accept a body these pass without running ajv
// (msgpack-beacons.ts reads msgpack bodies by them; the metrics route's
// validator passes a parsed JSON or NDJSON body that bodyPasses clears). They
// only ever say yes: whatever they do not clear, ajv judges, with its errors.
// A keyword of the schema they do not know stops the module from loading, and
// test/unit/beacon-fast-paths.test.ts checks them against ajv on the battery and fuzzed bodies.
import { BeaconSchema, MAX_BEACONS_PER_REQUEST, MAX_METRICS_PER_BEACON, RESERVED_KEYS, TagsSchema, TimestampSchema } from '../engine/index.ts'

/** A number check the schema makes on a value: the kinds a metric name takes (a known name and its suffix may both apply). */
export interface NumberRule {
  integer: boolean
  minimum: number
  maximum: number
}

const UNDERSTOOD = new Set(['type', 'minimum', 'maximum', 'description'])

/** A TypeBox number or integer schema as a rule; any keyword this reader does not check makes it refuse to start. */
function numberRule(schema: Record<string, unknown>, where: string): NumberRule {
  for (const key of Object.keys(schema)) if (!UNDERSTOOD.has(key)) throw new Error(`beacon-rules: ${where} has "${key}", which the fast reader does not check`)
  if (schema.type !== 'integer' && schema.type !== 'number') throw new Error(`beacon-rules: ${where} is not a number schema`)
  return { integer: schema.type === 'integer', minimum: Number(schema.minimum ?? -Infinity), maximum: Number(schema.maximum ?? Infinity) }
}

export function passes(rule: NumberRule, value: number): boolean {
  // Finite first: ajv's strictNumbers refuses NaN and Infinity as numbers.
  return Number.isFinite(value) && (!rule.integer || value % 1 === 0) && value >= rule.minimum && value <= rule.maximum
}

/** What the reader needs of the schema, read from it once. */
export interface BeaconRules {
  namePattern: RegExp
  minProperties: number
  maxProperties: number
  /** Known names (not ts and tags) and their rule. */
  known: Map<string, NumberRule>
  patterns: Array<[RegExp, NumberRule]>
  additional: NumberRule
  ts: NumberRule
  tagNamePattern: RegExp
  maxTags: number
  maxTagLength: number
  reservedTags: Set<string>
}

export function beaconRules(): BeaconRules {
  const beacon = BeaconSchema as unknown as Record<string, unknown> & {
    properties: Record<string, Record<string, unknown>>
    patternProperties: Record<string, Record<string, unknown>>
    additionalProperties: Record<string, unknown>
    propertyNames: { pattern: string }
  }
  const expected = new Set(['type', 'description', 'minProperties', 'maxProperties', 'propertyNames', 'patternProperties', 'additionalProperties', 'properties'])
  for (const key of Object.keys(beacon)) if (!expected.has(key)) throw new Error(`beacon-rules: the beacon schema has "${key}", which the fast reader does not check`)
  const known = new Map<string, NumberRule>()
  for (const [name, schema] of Object.entries(beacon.properties)) {
    if (!(RESERVED_KEYS as readonly string[]).includes(name)) known.set(name, numberRule(schema, name))
  }
  const patterns = Object.entries(beacon.patternProperties).map(([pattern, schema]) => [new RegExp(pattern, 'u'), numberRule(schema, pattern)] as [RegExp, NumberRule])
  for (const key of RESERVED_KEYS) if (patterns.some(([p]) => p.test(key))) throw new Error(`beacon-rules: "${key}" matches a metric pattern`)
  const ts = (TimestampSchema as unknown as { anyOf: Array<Record<string, unknown>> }).anyOf.find((s) => s.type === 'integer')
  if (!ts) throw new Error('beacon-rules: the ts schema has no integer form')
  const tags = TagsSchema as unknown as {
    maxProperties: number
    additionalProperties: boolean
    properties: Record<string, { not?: unknown }>
    patternProperties: Record<string, { type: string; maxLength: number }>
  }
  const tagPatterns = Object.entries(tags.patternProperties)
  const [tagPattern, tagValue] = tagPatterns[0] as [string, { type: string; maxLength: number }]
  if (tagPatterns.length !== 1 || tags.additionalProperties !== false || tagValue.type !== 'string' || Object.values(tags.properties).some((s) => !s.not)) {
    throw new Error('beacon-rules: the tags schema is not the shape the fast reader checks')
  }
  return {
    namePattern: new RegExp(beacon.propertyNames.pattern, 'u'),
    minProperties: Number(beacon.minProperties),
    maxProperties: Number(beacon.maxProperties),
    known,
    patterns,
    additional: numberRule(beacon.additionalProperties, 'additionalProperties'),
    ts: numberRule({ type: ts.type, minimum: ts.minimum, maximum: ts.maximum }, 'ts'),
    tagNamePattern: new RegExp(tagPattern, 'u'),
    maxTags: tags.maxProperties,
    maxTagLength: tagValue.maxLength,
    reservedTags: new Set(Object.keys(tags.properties)),
  }
}

/** The rules, read from the schema when the module loads: a schema this cannot check stops ingest from starting. */
export const RULES = beaconRules()

/** The rules a metric's value must pass, or null for a name that is not a metric's. */
export function metricRules(name: string): NumberRule[] | null {
  if (!RULES.namePattern.test(name) || (RESERVED_KEYS as readonly string[]).includes(name)) return null
  const rules: NumberRule[] = []
  // A known name takes its own rule and that of any pattern it matches, as JSON Schema applies both; additionalProperties only when neither.
  const own = RULES.known.get(name)
  if (own) rules.push(own)
  for (const [pattern, rule] of RULES.patterns) if (pattern.test(name)) rules.push(rule)
  if (rules.length === 0) rules.push(RULES.additional)
  return rules
}

/** A metric name's rules, remembered: a handful of names arrive again and again. */
const metricCache = new Map<string, NumberRule[] | null>()

function cachedMetricRules(name: string): NumberRule[] | null {
  let rules = metricCache.get(name)
  if (rules === undefined) {
    if (metricCache.size >= 4096) metricCache.clear()
    metricCache.set(name, (rules = metricRules(name)))
  }
  return rules
}

/** Tag names cleared before (a valid name, not reserved). */
const tagNameCache = new Set<string>()

function tagNamePasses(name: string): boolean {
  if (tagNameCache.has(name)) return true
  if (!RULES.tagNamePattern.test(name) || RULES.reservedTags.has(name)) return false
  if (tagNameCache.size >= 4096) tagNameCache.clear()
  tagNameCache.add(name)
  return true
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function tagsPass(tags: unknown): boolean {
  if (!isPlainObject(tags)) return false
  let count = 0
  for (const name in tags) {
    if (++count > RULES.maxTags || !Object.hasOwn(tags, name) || !tagNamePasses(name)) return false
    const value = tags[name]
    // maxLength counts code points, never more than UTF-16 units: within it by length is within it.
    if (typeof value !== 'string' || value.length > RULES.maxTagLength) return false
  }
  return true
}

/** One parsed beacon by the rules (with beaconsToSamples' own count of metrics); false: let ajv judge it. */
function beaconPasses(beacon: unknown): boolean {
  if (!isPlainObject(beacon)) return false
  let keys = 0
  let metrics = 0
  for (const name in beacon) {
    if (!Object.hasOwn(beacon, name)) return false
    keys++
    const value = beacon[name]
    if (name === 'ts') {
      // An ISO string is ajv's to judge (its format); a number is judged here.
      if (typeof value !== 'number' || !passes(RULES.ts, value)) return false
    } else if (name === 'tags') {
      if (!tagsPass(value)) return false
    } else {
      const rules = cachedMetricRules(name)
      if (rules === null || typeof value !== 'number') return false
      for (const rule of rules) if (!passes(rule, value)) return false
      metrics++
    }
  }
  return keys >= RULES.minProperties && keys <= RULES.maxProperties && metrics > 0 && metrics <= MAX_METRICS_PER_BEACON
}

/** Whether a parsed metrics body (one beacon or an array of them) certainly passes the schema; false says only "ask ajv". */
export function bodyPasses(body: unknown): boolean {
  if (!Array.isArray(body)) return beaconPasses(body)
  if (body.length === 0 || body.length > MAX_BEACONS_PER_REQUEST) return false
  for (const beacon of body) if (!beaconPasses(beacon)) return false
  return true
}
