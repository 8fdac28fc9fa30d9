// The rules room's public door: Prometheus alerting rules (the subset Tidemark
// evaluates), their files, the defaults, the incremental evaluator, and the
// promtool test runner behind `tidemark rules test`. See docs/rules.md.
export { parseRuleExpr, formatRuleExpr, ExpressionError, type RuleExpr, type Selector, type LabelMatcher, type CompareOp, type RangeFunction } from './promql-subset.ts'
export {
  parseRuleFile,
  compileRuleFile,
  RuleFileError,
  RuleFileSchema,
  RuleGroupSchema,
  RuleSchema,
  DEFAULT_GROUP_INTERVAL_MS,
  type RuleFileSpec,
  type RuleGroupSpec,
  type RuleSpec,
  type RuleGroup,
  type AlertRule,
  type RuleProblem,
} from './rule-file.ts'
export { parseRulesBody, loadRuleFileFromDisk, ruleInvalidError, type RuleInvalidError } from './rule-errors.ts'
export { DEFAULT_RULES, DEFAULT_GROUP_NAME, withDefaults, effectiveRuleGroups } from './default-rules.ts'
export {
  RulesEvaluator,
  SeriesEvaluator,
  LOOKBACK_DELTA_MS,
  type AlertTransition,
  type ActiveAlert,
  type TransitionState,
  type EvaluatorOptions,
  type RulesEvaluatorState,
  type SeriesEvaluatorState,
} from './evaluator.ts'
export { rulesTestCommand, runTestFile, type Output, type TestFileResult } from './promtool-test.ts'
export { parseDuration, formatDuration } from './duration.ts'
