// Where each piece of a scorer's state lives in its one Float64Array. One flat
// array means no allocation per point, a fixed size per series, and a restart
// that restores the bytes and continues exactly where it stopped.

/** Levels the transition channel cuts the value range into: 3 bits, as CAD OSE (NAB's 69.9) does. */
export const LEVELS = 8
/** Time-of-day bins of the seasonal profile: half an hour each over the default one-day period. */
export const SEASON_BINS = 48
/** Raw scores averaged before the likelihood: HTM's anomaly likelihood uses 10. */
export const AVERAGE_POINTS = 10

/** The four detectors, in the order of their channels. */
export const Channel = { Range: 0, Season: 1, Spike: 2, Transition: 3 } as const
export const CHANNELS = 4

// Per channel: the ring of the last raw scores, its position and sum, the
// running mean and variance of their average, and the channel's recent record.
const RING = 0
const RING_POS = AVERAGE_POINTS
const RING_SUM = AVERAGE_POINTS + 1
const AVG_MEAN = AVERAGE_POINTS + 2
const AVG_VAR = AVERAGE_POINTS + 3
const RECORD = AVERAGE_POINTS + 4
const CHANNEL_STRIDE = AVERAGE_POINTS + 5

export const ChannelSlot = { RING, RING_POS, RING_SUM, AVG_MEAN, AVG_VAR, RECORD } as const

let next = 0
const take = (n: number): number => {
  const at = next
  next += n
  return at
}

export const Slot = {
  /** Options, kept in the state so that a restored scorer needs nothing else. */
  PERIOD_MS: take(1),
  WARMUP: take(1),
  /** Points seen. */
  COUNT: take(1),
  MIN: take(1),
  MAX: take(1),
  /** Fast level (EWMA, weight 1/2) and the mean absolute deviation from it. */
  FAST: take(1),
  SCALE: take(1),
  /** Slow mean, the centre the range contracts towards. */
  CENTRE: take(1),
  PREV_LEVEL: take(1),
  CHANNELS: take(CHANNELS * CHANNEL_STRIDE),
  SEASON_MEAN: take(SEASON_BINS),
  SEASON_COUNT: take(SEASON_BINS),
  /** Transition counts from level i to level j at i * LEVELS + j, and each row's total. */
  TRANSITIONS: take(LEVELS * LEVELS),
  TRANSITION_ROWS: take(LEVELS),
} as const

export { CHANNEL_STRIDE }
/** Float64 values in a scorer's state. */
export const STATE_LENGTH = next
