// What every chart of the dashboard shares: one cursor (uPlot's cursor.sync),
// the view's time range as the x scale, drag-to-zoom as a new query, colours
// from the theme's CSS variables, and trigger transitions as vertical markers.
import uPlot from 'uplot'
import type { TriggerHistoryItem } from './api.ts'
import { formatInUnit, unitScale, type Unit } from '../engine/model/units.ts'

/** Every chart on the page moves its cursor with the others. */
export const SYNC_KEY = 'tidemark'

/** Below this many pixels a drag is a click that slipped, not a zoom. */
const MIN_ZOOM_PX = 8

export interface ChartContext {
  /** The view's range, epoch ms: every chart's x scale, so they line up whatever their data. */
  range(): { fromMs: number; toMs: number }
  /** A drag across a chart: the view zooms to it and queries again. */
  zoom(fromMs: number, toMs: number): void
  /** Trigger transitions drawn over time charts. */
  annotations(): TriggerHistoryItem[]
}

let probe: HTMLElement | undefined

/**
 * A theme colour as the canvas needs it (rgb()). The palette is written once with light-dark() in
 * style.css, which a custom property keeps unresolved, so the colour is read back through an element's
 * `color`, where the browser picks the light or dark half for the theme in force.
 */
export function cssVar(name: string): string {
  if (!probe) {
    probe = document.createElement('span')
    probe.hidden = true
    document.body.append(probe)
  }
  probe.style.color = `var(${name})`
  return getComputedStyle(probe).color
}

/** Axis labels: 14 px, readable on a phone held at arm's length (uPlot's default is 12 px). */
export const AXIS_FONT_PX = 14
const AXIS_FONT = `${AXIS_FONT_PX}px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif`
let measure: CanvasRenderingContext2D | null | undefined

/** A y axis as wide as its longest label needs, so a 14 px "1.25 s" is never cut and a "5" wastes no room. */
export function axisWidth(_u: uPlot, values: string[] | null): number {
  measure ??= document.createElement('canvas').getContext('2d')
  if (measure) measure.font = AXIS_FONT
  const widest = Math.max(0, ...(values ?? []).map((v) => (measure ? measure.measureText(v).width : v.length * 8)))
  // Tick (6), gap (6) and a little air either side.
  return Math.ceil(widest) + 18
}

const STATE_COLOURS: Record<string, string> = { pending: '--pending', firing: '--firing', resolved: '--resolved', inactive: '--muted' }

/** Draws each trigger transition in the range as a dashed vertical line in its state's colour. */
function annotationsPlugin(context: ChartContext): uPlot.Plugin {
  return {
    hooks: {
      draw: (u) => {
        const { ctx } = u
        const { top, height } = u.bbox
        ctx.save()
        ctx.lineWidth = 1.5 * devicePixelRatio
        ctx.setLineDash([5 * devicePixelRatio, 4 * devicePixelRatio])
        for (const event of context.annotations()) {
          const x = Math.round(u.valToPos(event.at, 'x', true))
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue
          ctx.strokeStyle = cssVar(STATE_COLOURS[event.state] ?? '--muted')
          ctx.beginPath()
          ctx.moveTo(x, top)
          ctx.lineTo(x, top + height)
          ctx.stroke()
        }
        ctx.restore()
      },
    },
  }
}

/** Options every time chart starts from; `series` and `axes` beyond x are the caller's. */
export function timeChartOptions(context: ChartContext, height: number, width: number): Omit<uPlot.Options, 'series'> {
  return {
    width,
    height,
    // The API's bucket starts are epoch milliseconds.
    ms: 1,
    cursor: {
      sync: { key: SYNC_KEY, setSeries: false },
      // The drag selects; the view re-queries the selection (setSelect below) rather than uPlot stretching the old buckets.
      drag: { x: true, y: false, setScale: false },
    },
    scales: { x: { time: true, range: () => { const r = context.range(); return [r.fromMs, r.toMs] } } },
    axes: [timeAxis()],
    hooks: {
      setSelect: [
        (u) => {
          const { left, width: w } = u.select
          if (w < MIN_ZOOM_PX) return
          const from = Math.round(u.posToVal(left, 'x'))
          const to = Math.round(u.posToVal(left + w, 'x'))
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false)
          context.zoom(from, to)
        },
      ],
    },
    plugins: [annotationsPlugin(context)],
  }
}

/** A time x axis in the theme's colours, labels at AXIS_FONT_PX. */
export function timeAxis(): uPlot.Axis {
  const gridColour = (): string => cssVar('--grid')
  // Room for a whole 14 px time label ("12:45 PM") between ticks, or narrow charts print them over each other.
  return { space: 84, font: AXIS_FONT, size: 54, stroke: () => cssVar('--fg'), grid: { stroke: gridColour }, ticks: { stroke: gridColour } }
}

/** A y axis in the theme's colours, labels at AXIS_FONT_PX, as wide as its labels. */
export function valueAxis(extra: uPlot.Axis = {}): uPlot.Axis {
  const gridColour = (): string => cssVar('--grid')
  return { stroke: () => cssVar('--fg'), font: AXIS_FONT, labelFont: `600 ${AXIS_FONT}`, space: 36, grid: { stroke: gridColour }, ticks: { stroke: gridColour }, size: axisWidth, ...extra }
}

/**
 * Resizes fire in bursts; one setSize per frame is all the canvas needs. The
 * container is watched too, since a scrollbar appearing narrows it without a window resize.
 */
export function followSize(plot: uPlot, container: HTMLElement, height: () => number): void {
  let frame = 0
  const schedule = (): void => {
    cancelAnimationFrame(frame)
    frame = requestAnimationFrame(() => plot.setSize({ width: container.clientWidth, height: height() }))
  }
  new ResizeObserver(schedule).observe(container)
  window.addEventListener('resize', schedule)
}

/**
 * A chart is a canvas, which a screen reader cannot read: the box gets a name saying what it plots,
 * and points at the figures beside it (the totals the chart summarises) as its text alternative.
 */
export function nameChart(box: HTMLElement, label: string, figures?: HTMLElement): void {
  box.setAttribute('role', 'figure')
  box.setAttribute('aria-label', label)
  if (figures) box.setAttribute('aria-describedby', figures.id)
}

/** The one table of kinds to units, and its formatter, shared with the server's SVG charts. */
export { unitOfKind, type Unit } from '../engine/model/units.ts'

/** A figure in its unit, the unit scaled to read well: 1,250 ms reads 1.25 s, 2,048 KB reads 2 MB. */
export function formatValue(value: number | null | undefined, unit: Unit): string {
  return formatInUnit(value, unit)
}

const tickFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 })

/** An axis's tick labels: one unit for every tick, chosen by the largest, as the SVG charts do. */
export function formatTicks(splits: number[], unit: Unit): string[] {
  const { scale, suffix } = unitScale(unit, Math.max(0, ...splits.map((v) => Math.abs(v))))
  return splits.map((v) => (v == null ? '' : tickFormat.format(v / scale) + suffix))
}
