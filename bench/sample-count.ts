// The bench's exactness check. Every sample the ingest publisher had JetStream
// acknowledge must be in ClickHouse exactly once when storage has settled:
// fewer is data loss, more is a duplicate that insert deduplication should have
// dropped. Either fails the run; "at least as many" would hide the second.

export interface SampleCounts {
  /** Samples of requests answered 2xx (warm-up included). */
  accepted: number
  /** Samples JetStream acknowledged to the publisher: accepted plus requests whose client had gone. */
  published: number
  /** Samples of the bench tenant in ClickHouse once the storage consumer had nothing pending or unacknowledged. */
  stored: number
  /** False when storage stopped making progress before settling. */
  complete: boolean
}

/** One line per way the counts are wrong; empty when stored equals published and covers every 2xx. */
export function sampleCountProblems(variant: string, c: SampleCounts): string[] {
  const problems: string[] = []
  if (c.stored < c.published) {
    problems.push(`${variant}: ClickHouse holds ${c.stored} samples of ${c.published} published: ${c.published - c.stored} missing (data loss)`)
  } else if (c.stored > c.published) {
    problems.push(`${variant}: ClickHouse holds ${c.stored} samples of ${c.published} published: ${c.stored - c.published} stored twice (duplicates)`)
  }
  // A 2xx is sent only after JetStream's ack, so published covers accepted; less means the counting itself is wrong.
  if (c.published < c.accepted) problems.push(`${variant}: ${c.accepted} samples answered 2xx but only ${c.published} published: the counts disagree`)
  if (!c.complete) problems.push(`${variant}: storage stalled before settling (${c.stored} of ${c.published} stored)`)
  return problems
}
