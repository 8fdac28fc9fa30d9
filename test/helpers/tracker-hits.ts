// Pageviews as the tracker's hit writer stores them, for tests that need tracker
// figures at chosen times (a beacon is always stamped with its receive time).
import { visitorId, type Hit } from '../../engine/index.ts'

let n = 0

/** A pageview of `person` (standing for an address and User-Agent) on `site` at `ts`. */
export function pageviewHit(tenant: string, site: string, person: string, ts: number, path = '/'): Hit {
  return {
    id: (++n).toString(16).padStart(32, '0'),
    tenant,
    site,
    kind: 'pageview',
    ts,
    visitor: visitorId('test salt', site, person, 'test agent'),
    tenantVisitor: visitorId('test salt', tenant, person, 'test agent'),
    path,
    referrer: '',
    utm: { source: '', medium: '', campaign: '', term: '', content: '' },
    screen: 'desktop',
    name: '',
    props: {},
  }
}
