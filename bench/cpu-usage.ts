// Where the CPU went during a measured load: this process (the server under
// load, with chDB's threads), the machine as a whole and, on a VM, the time the
// host took away (steal). A rate means little without knowing whether the
// server, the load generator or a neighbour used up the cores.
import fs from 'node:fs'

export interface CpuShare {
  /** This process over the load, 100 = one core. */
  benchProcessPct: number
  /** Every core busy = 100; Linux only. */
  machineBusyPct?: number
  /** Time the hypervisor ran someone else on our cores, same scale; Linux only. */
  machineStealPct?: number
}

export interface CpuSnapshot {
  atNs: bigint
  process: NodeJS.CpuUsage
  machine: { busy: number; steal: number; total: number } | undefined
}

/** The first line of /proc/stat: user nice system idle iowait irq softirq steal, in ticks. */
function machineTicks(): CpuSnapshot['machine'] {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]?.trim().split(/\s+/).slice(1, 9).map(Number) ?? []
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields
    return { busy: user + nice + system + irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal }
  } catch {
    return undefined
  }
}

export function cpuSnapshot(): CpuSnapshot {
  return { atNs: process.hrtime.bigint(), process: process.cpuUsage(), machine: machineTicks() }
}

const pct = (part: number, whole: number): number => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : 0)

/** This process's CPU since a snapshot, 100 = one core (the load worker reports its own with it). */
export function processCpuPct(start: CpuSnapshot): number {
  const used = process.cpuUsage(start.process)
  return pct(used.user + used.system, Number(process.hrtime.bigint() - start.atNs) / 1000)
}

export function cpuSince(start: CpuSnapshot): CpuShare {
  const share: CpuShare = { benchProcessPct: processCpuPct(start) }
  const now = machineTicks()
  if (start.machine && now) {
    const total = now.total - start.machine.total
    share.machineBusyPct = pct(now.busy - start.machine.busy, total)
    share.machineStealPct = pct(now.steal - start.machine.steal, total)
  }
  return share
}

/** CPU seconds (user + system) another process has used so far, from /proc/<pid>/stat (Linux); undefined elsewhere or once it is gone. */
export function pidCpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The fields after the command name (which may hold spaces and parentheses): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}
