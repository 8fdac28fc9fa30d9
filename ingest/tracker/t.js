/*! Tidemark tracker: <script src="…/t.js" data-site="s_…" defer></script>. No cookies, no storage. */
(function (w, d, n) {
  var me = d.currentScript, site = me && me.getAttribute('data-site')
  if (!site) return
  var url = (me.getAttribute('data-api') || new URL(me.src).origin) + '/api/v2/beacon'
  var first = 1, last, queued = w.tidemark && w.tidemark.q
  function screenClass() {
    var x = w.screen.width
    return x < 576 ? 'mobile' : x < 992 ? 'tablet' : x < 1440 ? 'laptop' : 'desktop'
  }
  function send(kind, name, props) {
    var l = w.location, q = new URLSearchParams(l.search), utm = {}, any = 0
    ;['source', 'medium', 'campaign', 'term', 'content'].forEach(function (f) {
      var v = q.get('utm_' + f)
      if (v) {
        utm[f] = v.slice(0, 100)
        any = 1
      }
    })
    var b = { site: site, kind: kind, path: l.pathname.slice(0, 512), screen: screenClass() }
    if (first && d.referrer) b.referrer = d.referrer.slice(0, 512)
    if (any) b.utm = utm
    if (name) b.name = name
    if (props) b.props = props
    b = JSON.stringify(b)
    // text/plain: a CORS-safelisted type, so neither needs a preflight.
    if (!(n.sendBeacon && n.sendBeacon(url, b))) {
      fetch(url, { method: 'POST', body: b, keepalive: true, headers: { 'content-type': 'text/plain' } }).catch(function () {})
    }
  }
  function pageview() {
    var p = w.location.pathname
    if (p === last) return
    last = p
    send('pageview')
    first = 0
  }
  // Single-page apps: a pushState or replaceState to a new path, or Back/Forward, is a pageview.
  ;['pushState', 'replaceState'].forEach(function (m) {
    var orig = history[m]
    history[m] = function () {
      var r = orig.apply(this, arguments)
      pageview()
      return r
    }
  })
  w.addEventListener('popstate', pageview)
  // tidemark('event', name, {prop: value}); calls made before the script loaded were queued in tidemark.q.
  w.tidemark = function (what, name, props) {
    if (what === 'event' && name) send('event', String(name), props)
  }
  pageview()
  if (queued) for (var i = 0; i < queued.length; i++) w.tidemark.apply(w, queued[i])
})(window, document, navigator)
