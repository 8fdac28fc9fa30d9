// The functions an analyst's SQL may call. An allow-list, not a deny-list:
// ClickHouse has about 1,800 functions and adds more each release, and some read
// files (`file('/etc/passwd')` works as a plain function), the network, other
// tables (`joinGet`, `dictGet`) or the server's state (`getSetting`). A new
// function is refused until someone reads what it does and lists it here.
// test/unit/sql-allow-list.test.ts checks every name exists in the running
// ClickHouse and that no table function or known reader slipped in.

/** Aggregate functions; each may also carry ClickHouse's combinator suffixes (sumIf, uniqState, avgOrNull…). */
export const AGGREGATE_FUNCTIONS: readonly string[] = [
  'count', 'countDistinct', 'sum', 'avg', 'min', 'max', 'any', 'anyLast', 'anyHeavy', 'any_value', 'first_value', 'last_value',
  'argMin', 'argMax', 'avgWeighted', 'sumKahan', 'sumWithOverflow',
  'uniq', 'uniqExact', 'uniqCombined', 'uniqCombined64', 'uniqHLL12',
  'median', 'medianExact', 'medianTDigest', 'medianTiming',
  'quantile', 'quantiles', 'quantileExact', 'quantilesExact', 'quantileExactLow', 'quantileExactHigh', 'quantileExactWeighted', 'quantilesExactWeighted',
  'quantileTDigest', 'quantilesTDigest', 'quantileTDigestWeighted', 'quantileTiming', 'quantilesTiming', 'quantileDeterministic', 'quantileBFloat16',
  'quantileDD', 'quantilesDD', 'quantileGK', 'quantilesGK', 'quantileInterpolatedWeighted',
  'stddevPop', 'stddevSamp', 'varPop', 'varSamp', 'covarPop', 'covarSamp', 'corr', 'skewPop', 'skewSamp', 'kurtPop', 'kurtSamp', 'entropy',
  'simpleLinearRegression', 'rankCorr', 'boundingRatio', 'exponentialMovingAverage', 'deltaSum', 'deltaSumTimestamp',
  'groupArray', 'groupArraySample', 'groupUniqArray', 'groupArrayMovingAvg', 'groupArrayMovingSum', 'groupArraySorted', 'groupArrayInsertAt',
  'groupBitAnd', 'groupBitOr', 'groupBitXor', 'topK', 'topKWeighted', 'histogram',
  'retention', 'windowFunnel', 'sequenceMatch', 'sequenceCount', 'maxIntersections', 'studentTTest', 'welchTTest', 'mannWhitneyUTest',
  'stddevPopStable', 'stddevSampStable', 'varPopStable', 'varSampStable',
]

/** Window-only functions. */
export const WINDOW_FUNCTIONS: readonly string[] = [
  'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lagInFrame', 'leadInFrame', 'nth_value', 'lag', 'lead',
]

export const SCALAR_FUNCTIONS: readonly string[] = [
  // Operators as ClickHouse's parser names them (a + b is plus(a, b), x IN (…) is in, CASE is multiIf).
  'plus', 'minus', 'multiply', 'divide', 'intDiv', 'intDivOrZero', 'modulo', 'moduloOrZero', 'positiveModulo', 'negate', 'abs', 'gcd', 'lcm',
  'equals', 'notEquals', 'less', 'greater', 'lessOrEquals', 'greaterOrEquals', 'isNotDistinctFrom',
  'and', 'or', 'not', 'xor', 'in', 'notIn', 'nullIn', 'notNullIn', 'exists',
  'if', 'multiIf', 'caseWithExpression', 'ifNull', 'nullIf', 'coalesce', 'isNull', 'isNotNull', 'assumeNotNull', 'toNullable',
  'isNaN', 'isFinite', 'isInfinite', 'ifNotFinite', 'lambda', 'tuple', 'tupleElement', 'untuple', 'array', 'arrayElement', 'map',
  // Mathematics and rounding.
  'exp', 'exp2', 'exp10', 'log', 'ln', 'log2', 'log10', 'log1p', 'sqrt', 'cbrt', 'pow', 'power', 'sin', 'cos', 'tan', 'asin', 'acos', 'atan', 'atan2',
  'sinh', 'cosh', 'tanh', 'hypot', 'pi', 'e', 'erf', 'erfc', 'lgamma', 'tgamma', 'degrees', 'radians', 'sign', 'greatest', 'least', 'width_bucket',
  'floor', 'ceil', 'ceiling', 'round', 'roundBankers', 'trunc', 'truncate', 'roundToExp2', 'roundDown', 'roundDuration', 'roundAge',
  'bitAnd', 'bitOr', 'bitXor', 'bitNot', 'bitShiftLeft', 'bitShiftRight', 'bitCount', 'rand', 'rand64', 'randCanonical', 'generateUUIDv4',
  // Types.
  // _CAST is CAST as ClickHouse writes literals ([1, 2], NULL) into the tree that EXPLAIN AST shows.
  'CAST', '_CAST', 'accurateCast', 'accurateCastOrNull', 'accurateCastOrDefault', 'toTypeName', 'toBool',
  'toInt8', 'toInt16', 'toInt32', 'toInt64', 'toUInt8', 'toUInt16', 'toUInt32', 'toUInt64', 'toFloat32', 'toFloat64',
  'toInt32OrNull', 'toInt64OrNull', 'toUInt64OrNull', 'toFloat64OrNull', 'toInt64OrZero', 'toUInt64OrZero', 'toFloat64OrZero',
  'toDecimal32', 'toDecimal64', 'toDecimal128', 'toDecimalString', 'toString', 'toLowCardinality',
  'toDate', 'toDate32', 'toDateTime', 'toDateTime64', 'toDateOrNull', 'toDateTimeOrNull', 'toDateTime64OrNull',
  'parseDateTimeBestEffort', 'parseDateTimeBestEffortOrNull', 'parseDateTime64BestEffort', 'parseDateTime64BestEffortOrNull', 'parseDateTime',
  'toUnixTimestamp', 'toUnixTimestamp64Milli', 'toUnixTimestamp64Micro', 'fromUnixTimestamp', 'fromUnixTimestamp64Milli', 'fromUnixTimestamp64Micro',
  'toIntervalSecond', 'toIntervalMinute', 'toIntervalHour', 'toIntervalDay', 'toIntervalWeek', 'toIntervalMonth', 'toIntervalQuarter', 'toIntervalYear',
  'toIntervalMillisecond',
  // Dates and times.
  'now', 'now64', 'today', 'yesterday', 'toTimeZone', 'toTimezone',
  'toStartOfSecond', 'toStartOfMinute', 'toStartOfFiveMinutes', 'toStartOfTenMinutes', 'toStartOfFifteenMinutes', 'toStartOfHour', 'toStartOfDay',
  'toStartOfWeek', 'toMonday', 'toStartOfMonth', 'toStartOfQuarter', 'toStartOfYear', 'toStartOfInterval', 'toLastDayOfMonth', 'dateTrunc', 'DATE_TRUNC',
  'toYear', 'toQuarter', 'toMonth', 'toDayOfMonth', 'toDayOfWeek', 'toDayOfYear', 'toHour', 'toMinute', 'toSecond', 'toMillisecond',
  'toYYYYMM', 'toYYYYMMDD', 'toYYYYMMDDhhmmss', 'toISOWeek', 'toISOYear', 'toWeek', 'toYearWeek', 'toRelativeHourNum', 'toRelativeMinuteNum',
  'toRelativeDayNum', 'toRelativeSecondNum', 'dateDiff', 'date_diff', 'age', 'timeSlot', 'formatDateTime',
  'formatDateTimeInJodaSyntax', 'makeDate', 'makeDateTime', 'makeDateTime64',
  'addSeconds', 'addMinutes', 'addHours', 'addDays', 'addWeeks', 'addMonths', 'addYears',
  'subtractSeconds', 'subtractMinutes', 'subtractHours', 'subtractDays', 'subtractWeeks', 'subtractMonths', 'subtractYears',
  // Strings.
  'length', 'lengthUTF8', 'empty', 'notEmpty', 'lower', 'upper', 'lowerUTF8', 'upperUTF8', 'concat', 'concatWithSeparator', 'substring', 'substr',
  'substringUTF8', 'left', 'right', 'trim', 'trimLeft', 'trimRight', 'trimBoth', 'ltrim', 'rtrim', 'replaceAll', 'replaceOne', 'replace',
  'replaceRegexpAll', 'replaceRegexpOne', 'position', 'positionCaseInsensitive', 'locate', 'startsWith', 'endsWith', 'like', 'notLike', 'ilike',
  'notILike', 'match', 'extract', 'extractAll', 'splitByChar', 'splitByString', 'splitByRegexp', 'arrayStringConcat', 'reverse', 'repeat',
  'leftPad', 'rightPad', 'lpad', 'rpad', 'toValidUTF8', 'base64Encode', 'base64Decode', 'hex', 'unhex', 'countSubstrings',
  'multiSearchAny', 'formatReadableSize', 'formatReadableQuantity', 'formatReadableTimeDelta', 'bar',
  'domain', 'domainWithoutWWW', 'topLevelDomain', 'protocol', 'path', 'extractURLParameter', 'cutQueryString', 'decodeURLComponent',
  'encodeURLComponent', 'cityHash64', 'sipHash64', 'xxHash64', 'murmurHash3_64',
  // JSON held in strings (tenant_analytics.metric_value).
  'JSONExtract', 'JSONExtractString', 'JSONExtractInt', 'JSONExtractUInt', 'JSONExtractFloat', 'JSONExtractBool', 'JSONExtractRaw',
  'JSONExtractKeys', 'JSONHas', 'JSONLength', 'JSONType', 'JSON_VALUE', 'JSON_QUERY', 'JSON_EXISTS', 'isValidJSON', 'toJSONString',
  // Arrays and maps (tags is a Map: tags['site'] is arrayElement).
  'arrayJoin', 'has', 'hasAll', 'hasAny', 'indexOf', 'arrayMap', 'arrayFilter', 'arrayExists', 'arrayAll', 'arrayCount', 'arraySum', 'arrayAvg',
  'arrayMin', 'arrayMax', 'arraySort', 'arrayReverseSort', 'arrayDistinct', 'arrayUniq', 'arrayEnumerate', 'arraySlice', 'arrayConcat',
  'arrayPushBack', 'arrayPushFront', 'arrayPopBack', 'arrayPopFront', 'arrayFirst', 'arrayLast', 'arrayZip', 'arrayFlatten', 'arrayCompact',
  'arrayDifference', 'arrayCumSum', 'arrayReverse', 'arrayIntersect', 'arrayResize', 'arrayReduce', 'range', 'emptyArrayString',
  'mapKeys', 'mapValues', 'mapContains', 'mapFromArrays', 'mapApply', 'mapFilter',
]

/** ClickHouse's aggregate combinators (system.aggregate_function_combinators), longest first for stripping. */
export const AGGREGATE_COMBINATORS: readonly string[] = [
  'SimpleState', 'MergeState', 'OrDefault', 'Distinct', 'Resample', 'ForEach', 'ArgMax', 'ArgMin', 'OrNull', 'Merge', 'State', 'Array', 'Map', 'If',
]

/** Why some well-known functions are refused, for a clearer message than "not on the list". */
const REFUSAL_REASONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(file|url|s3|input|remote|hdfs|azureBlobStorage|gcs|mysql|postgresql|jdbc|odbc|executable|filesystem.*)$/i, 'it reads files or the network'],
  [/^(dictGet.*|dictHas|dictIsIn|dictGetHierarchy|dictGetChildren|dictGetDescendants|joinGet.*|hasColumnInTable)$/i, 'it reads other tables'],
  [/^(getSetting.*|getMacro|currentDatabase|currentUser|currentSchemas|currentProfiles|currentRoles|hostName|fqdn|version|uptime|serverUUID|getServerPort|tcpPort|displayName|buildId)$/i, 'it tells about the server, not your data'],
  [/^(sleep|sleepEachRow|throwIf)$/i, 'it stalls or fails queries on purpose'],
]

const lower = (names: readonly string[]): Set<string> => new Set(names.map((n) => n.toLowerCase()))
// Compared case-insensitively, as ClickHouse resolves SQL's own names (COUNT, SUM, LOWER); the unit test checks no two
// functions differ only in case where one is listed and the other is not.
const AGGREGATES = lower([...AGGREGATE_FUNCTIONS, ...WINDOW_FUNCTIONS])
const ALLOWED = lower([...AGGREGATE_FUNCTIONS, ...WINDOW_FUNCTIONS, ...SCALAR_FUNCTIONS])

/** Whether the console runs a function of this name; aggregates with combinators included (quantileIf, uniqMerge). */
export function isAllowedFunction(name: string): boolean {
  if (ALLOWED.has(name.toLowerCase())) return true
  let base = name
  // Combinators are case-sensitive suffixes and may stack (sumIfOrNull): strip until an aggregate remains.
  for (let stripped = true; stripped && base.length > 0; ) {
    stripped = false
    for (const suffix of AGGREGATE_COMBINATORS) {
      if (base.length > suffix.length && base.endsWith(suffix)) {
        base = base.slice(0, -suffix.length)
        stripped = true
        if (AGGREGATES.has(base.toLowerCase())) return true
        break
      }
    }
  }
  return false
}

export function refusalReason(name: string): string {
  for (const [pattern, reason] of REFUSAL_REASONS) if (pattern.test(name)) return reason
  return 'it is not on the list of functions the console runs (docs/sql.md)'
}
