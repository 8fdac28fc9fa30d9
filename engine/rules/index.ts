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
export { LADDER_ACTIONS, LADDER_ANNOTATIONS, DEFAULT_LADDER, DEFAULT_COOLDOWN_MS, DEFAULT_STEP_DOWN_AFTER_MS, type LadderAction, type LadderSettings } from './ladder-settings.ts'
export { ActionLadder, alertInstanceKey, type LadderEvent, type LadderChange, type ActionLadderState } from './action-ladder.ts'
export {
  TriggerEventSchema,
  TRIGGER_EVENT_VERSION,
  toTriggerEvent,
  triggerEventId,
  triggerSubject,
  tenantTriggerSubjects,
  ruleToken,
  ruleFromToken,
  encodeValue,
  decodeValue,
  MAX_RULE_TOKEN,
  type TriggerEvent,
} from './trigger-event.ts'
export { TRIGGERS_STREAM, TRIGGERS_MAX_AGE_MS, TRIGGERS_DUPLICATE_WINDOW_MS, triggersStreamConfig, publishTriggerEvents, type PublishResult } from './trigger-stream.ts'
export {
  TRIGGER_EVENTS_TABLE,
  TRIGGER_ROW_COLUMNS,
  triggerEventsTableStatement,
  insertTriggerEvents,
  triggerHistory,
  triggerRowOf,
  type StoredTriggerRow,
  type TriggerHistoryRow,
} from './trigger-history.ts'
export { layerRules, type RuleSource, type RuleLayer, type LayeredRules, type LayeredGroup, type Override } from './rule-layers.ts'
export { RuleStore, ensureRulesBucket, RULES_BUCKET, MAX_RULES_PER_TENANT, MAX_RULE_FILE_BYTES, type TenantRules, type RuleStoreOptions, type RulesListener } from './rule-store.ts'
export { ROLE_RULES_PUBLISH, RULES_READ_PUBLISH, RULES_WRITE_PUBLISH, autoscalerPermissions, autoscalerNames } from './trigger-permissions.ts'
export { STREAM_RULES_MODULE, TRIGGER_OUTPUT_KIND, isTriggerOutput, withConfig as streamRulesFactory, type StreamRulesConfig, type TriggerOutput } from './stream-rules.ts'
export { streamRulesSnapshot, type StreamRulesSnapshot } from './stream-rules-config.ts'
export { TriggerOutputSink, type TriggerSinkStats } from './trigger-sink.ts'
export { TriggerHistoryWriter, TRIGGER_HISTORY_CONSUMER, type TriggerHistoryStats } from './trigger-history-writer.ts'
