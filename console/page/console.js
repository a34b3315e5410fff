'use strict';
// The herald console page: it polls api/state and redraws. Every text from
// the broker goes into the page as text (textContent), never as markup.
(() => {
  const actions = document.body.dataset.actions === 'true';
  const refreshMS = Number(document.body.dataset.refresh) || 1000;
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (sel) => document.querySelector(sel);

  // el builds an element: attrs are attributes (on* are listeners), kids
  // are nodes or strings (as text).
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    for (const k of kids.flat()) {
      if (k !== null && k !== undefined && k !== false) e.append(k instanceof Node ? k : String(k));
    }
    return e;
  }
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVG, tag);
    setAttrs(e, attrs);
    for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
    return e;
  }
  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'class') e.setAttribute('class', v);
      else e.setAttribute(k, v === true ? '' : v);
    }
  }

  // patch makes parent's children look like kids, changing the nodes in
  // place where they are alike: a refresh keeps the text selected, the
  // element hovered or focused, and a button being clicked. Buttons act
  // through one delegated listener (see below), so no listener is lost.
  function patch(parent, kids) {
    const old = [...parent.childNodes];
    kids.forEach((k, i) => (i < old.length ? morph(old[i], k) : parent.append(k)));
    for (let i = kids.length; i < old.length; i++) old[i].remove();
  }
  function morph(from, to) {
    if (from.nodeType !== to.nodeType || from.nodeName !== to.nodeName) {
      from.replaceWith(to);
      return;
    }
    if (from.nodeType !== Node.ELEMENT_NODE) {
      if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue;
      return;
    }
    for (const a of [...from.attributes]) if (!to.hasAttribute(a.name)) from.removeAttribute(a.name);
    for (const a of [...to.attributes]) if (from.getAttribute(a.name) !== a.value) from.setAttribute(a.name, a.value);
    patch(from, [...to.childNodes]);
  }

  const nf = new Intl.NumberFormat('en-US');
  const num = (x) => nf.format(x || 0);
  const rate = (x) => (!x ? '0' : x < 10 ? x.toFixed(1) : nf.format(Math.round(x)));
  // Cells carry their column's name and, for numbers, the raw value, for
  // whoever reads the page by machine (the browser tests do).
  const td = (v, cls, col, value) => el('td', { class: cls, 'data-col': col, 'data-value': value }, v);
  const n = (v, col) => td(num(v), 'n', col, v || 0);
  const r = (v, col) => td(rate(v), 'n', col, v || 0);
  const path = (word, name) => 'api/' + word + '/' + encodeURIComponent(name);

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    const body = await res.json().catch(() => ({ error: res.statusText }));
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }
  async function postJSON(url, data) {
    const res = await fetch(url, {
      method: 'POST', cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: data === undefined ? '' : JSON.stringify(data),
    });
    const body = await res.json().catch(() => ({ error: res.statusText }));
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }

  let noticeTimer;
  function notice(text, isError) {
    const box = $('#notice');
    box.textContent = text;
    box.className = isError ? 'error' : '';
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  function status(state, text) {
    $('#status').dataset.state = state;
    $('#status-text').textContent = text;
  }

  // --- overview ---
  function renderOverview(o) {
    const card = (label, value, cls, id, raw) => el('div', { class: 'card ' + (cls || ''), id, 'data-value': raw },
      el('div', { class: 'v' }, value), el('div', { class: 'l' }, label));
    const known = o.rateWindow > 0;
    const rv = (x) => (known ? rate(x) : '–');
    patch($('#cards'), [
      card('publish / s', rv(o.rates.publish), 'rate', 'rate-publish'),
      card('deliver / s', rv(o.rates.deliver), 'rate deliver', 'rate-deliver'),
      card('ack / s', rv(o.rates.ack), 'rate ack', 'rate-ack'),
      card('ready', num(o.ready), '', 'total-ready', o.ready),
      card('unacked', num(o.unacked), '', 'total-unacked', o.unacked),
      card('delayed', num(o.delayed)),
      card('retained in topics', num(o.retained)),
      card('published', num(o.published), '', 'total-published', o.published),
      card('acked', num(o.acked)),
      card('dead-lettered', num(o.deadLettered)),
      card('expired · dropped', num(o.expired) + ' · ' + num(o.dropped)),
      card('purged', num(o.purged)),
      card('queues · topics · exchanges', o.queues + ' · ' + o.topics + ' · ' + o.exchanges),
    ]);
    renderSpark(o.series || []);
  }

  function renderSpark(series) {
    const box = $('#spark');
    const W = Math.max(box.clientWidth, 100), H = Math.max(box.clientHeight, 40), span = 60;
    box.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    box.replaceChildren();
    $('#spark-max').textContent = '';
    if (series.length < 2) {
      box.append(svg('text', { x: 8, y: 24, fill: '#868e96', 'font-size': 12 }, 'collecting samples while this page is open…'));
      return;
    }
    let top = 1;
    for (const p of series) top = Math.max(top, p.publish, p.deliver, p.ack);
    for (const key of ['publish', 'deliver', 'ack']) {
      const pts = series.map((p) => [W - (p.ago / span) * W, H - 4 - (p[key] / top) * (H - 10)]);
      box.append(svg('polyline', {
        points: pts.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' '),
        fill: 'none', stroke: getComputedStyle(document.documentElement).getPropertyValue('--' + key).trim(),
        'stroke-width': 2, 'stroke-linejoin': 'round',
      }));
    }
    $('#spark-max').textContent = 'top ' + rate(top) + '/s';
  }

  // --- actions, with a second click to confirm the ones that destroy ---
  const confirming = new Map(); // "purge:name" -> when the first click expires
  const armed = (key) => (confirming.get(key) || 0) > Date.now();
  function actionButton(kind, name, label, opts) {
    const on = armed(kind + ':' + name);
    return el('button', {
      type: 'button', 'data-action': kind, 'data-name': name, 'data-label': label,
      'data-confirm': opts.confirm ? 'yes' : null,
      class: on ? 'confirm' : opts.danger ? 'danger' : null,
      disabled: !actions,
      title: actions ? opts.title : 'read-only: the console was started without console.AllowActions()',
    }, on ? 'confirm ' + label : label);
  }
  const browseButton = (name, kind) => el('button', { type: 'button', 'data-action': 'browse', 'data-name': name, 'data-kind': kind }, 'browse');

  const run = { purge: (name) => purge(name), move: (name) => moveBack(name) };
  document.addEventListener('click', async (ev) => {
    const b = ev.target.closest('button[data-action]');
    if (!b || b.disabled) return;
    const { action, name, label } = b.dataset;
    if (action === 'browse') {
      openBrowser(name, b.dataset.kind, true);
      return;
    }
    if (!run[action]) return;
    const key = action + ':' + name;
    if (b.dataset.confirm && !armed(key)) {
      confirming.set(key, Date.now() + 4000);
      b.className = 'confirm';
      b.textContent = 'confirm ' + label;
      return;
    }
    confirming.delete(key);
    b.disabled = true;
    try {
      await run[action](name);
    } catch (e) {
      notice(label + ' ' + name + ': ' + e.message, true);
    }
    poll();
  });

  async function purge(name) {
    const res = await postJSON(path('purge', name));
    notice('Purged ' + num(res.purged) + ' message' + (res.purged === 1 ? '' : 's') + ' from ' + name + '.');
  }
  async function moveBack(name) {
    const res = await postJSON(path('move', name));
    let text = 'Moved ' + num(res.moved) + ' dead letter' + (res.moved === 1 ? '' : 's') + ' from ' + name + ' back to their queues.';
    if (res.left) text += ' ' + num(res.left) + ' left in ' + name + ': ' + res.errors.join('; ');
    notice(text, res.left > 0);
  }

  // --- queues ---
  function chips(list) {
    return el('div', { class: 'chips' }, list.filter(Boolean).map(([text, cls]) => el('span', { class: 'chip ' + (cls || '') }, text)));
  }
  function redeliveryChips(o) {
    return [
      o.maxDeliveries ? ['max ' + o.maxDeliveries + ' deliveries'] : null,
      o.deadLetter ? ['dead letters → ' + o.deadLetter, 'dlq'] : null,
      o.deadLetterKey !== null && o.deadLetterKey !== undefined ? ['dead-letter key "' + o.deadLetterKey + '"'] : null,
      o.ackTimeout ? ['ack timeout ' + o.ackTimeout] : null,
    ];
  }
  function renderQueues(qs) {
    $('#queues-count').textContent = qs.length;
    const rows = qs.map((q) => {
      const o = q.options;
      return el('tr', { 'data-name': q.name },
        td(q.name, 'name', 'name'),
        n(q.ready, 'ready'), n(q.unacked, 'unacked'), n(q.delayed + q.scheduled, 'delayed'), n(q.consumers, 'consumers'),
        r(q.rates.publish, 'publish-rate'), r(q.rates.deliver, 'deliver-rate'), r(q.rates.ack, 'ack-rate'),
        n(q.acked, 'acked'), td(num(q.deadLettered), q.deadLetterFailed ? 'n hot' : 'n', 'dead-lettered', q.deadLettered), n(q.purged, 'purged'),
        el('td', {}, chips([
          ['capacity ' + num(o.capacity)], [o.overflow],
          o.ttl ? ['TTL ' + o.ttl] : null,
          o.priorities > 1 ? [o.priorities + ' priorities'] : null,
          o.dedup ? ['dedup ' + o.dedup] : null,
          ...redeliveryChips(o),
          o.transform ? ['transform'] : null,
          q.deadLetterTarget ? ['dead-letter queue', 'dlq'] : null,
        ])),
        el('td', { class: 'acts' },
          browseButton(q.name, 'queue'),
          actionButton('purge', q.name, 'purge', { danger: true, confirm: true, title: 'remove every ready message' }),
          q.deadLetterTarget ? actionButton('move', q.name, 'move back', { title: 'publish each dead letter back to its x-death-queue' }) : null,
        ),
      );
    });
    patch($('#queues tbody'), rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colspan: 13 }, 'no queue declared'))]);
  }

  // --- topics ---
  function renderTopics(ts) {
    $('#topics-count').textContent = ts.length;
    const rows = [];
    for (const t of ts) {
      const o = t.options;
      const readers = t.readers.length ? t.readers : [null];
      readers.forEach((rd, i) => {
        const first = i === 0;
        const cells = first ? [
          td(t.name, 'name', 'name'), n(t.retained, 'retained'), n(t.published, 'published'),
          r(t.rates.publish, 'publish-rate'), r(t.rates.deliver, 'deliver-rate'),
        ] : [td(''), td(''), td(''), td(''), td('')];
        const who = !rd ? el('td', { class: 'muted' }, 'no subscription')
          : el('td', { 'data-col': 'reader' }, rd.group ? 'group ' + rd.group : 'subscription');
        const stats = rd ? [n(rd.members, 'members'), td(num(rd.lag), rd.lag > o.capacity / 2 ? 'n hot' : 'n', 'lag', rd.lag),
          n(rd.unacked, 'unacked'), n(rd.acked, 'acked'), td(num(rd.missed), rd.missed ? 'n hot' : 'n', 'missed', rd.missed)] : [td(''), td(''), td(''), td(''), td('')];
        rows.push(el('tr', { 'data-name': t.name, 'data-reader': rd ? rd.group || 'subscription-' + i : '', class: first ? '' : 'sub' },
          ...cells, who, ...stats,
          el('td', {}, first ? chips([
            ['retains ' + num(o.capacity)], [o.overflow],
            o.maxAge ? ['max age ' + o.maxAge] : null, o.dedup ? ['dedup ' + o.dedup] : null,
          ]) : rd ? chips(redeliveryChips(rd.redelivery)) : ''),
          el('td', { class: 'acts' }, first ? browseButton(t.name, 'topic') : ''),
        ));
      });
    }
    patch($('#topics tbody'), rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colspan: 13 }, 'no topic declared'))]);
  }

  // --- exchanges ---
  function renderExchanges(xs, graph) {
    $('#exchanges-count').textContent = xs.length;
    const rows = xs.map((x) => el('tr', { 'data-name': x.name },
      td(x.name, 'name', 'name'),
      el('td', { 'data-col': 'kind' }, el('span', { class: 'chip kind' }, x.kind)),
      td(x.alternate || '–', '', 'alternate'),
      el('td', { 'data-col': 'bindings' }, x.bindings.length ? x.bindings.map((b) => el('span', { class: 'binding' },
        x.kind === 'fanout' ? '' : el('code', {}, x.kind === 'headers' ? bindingHeaders(b) : b.key === '' ? '""' : b.key),
        x.kind === 'fanout' ? '' : ' → ', b.dest, el('span', { class: 'muted' }, ' (' + (b.destKind || 'missing') + ')'),
        b.transform ? ' · transform' : '')) : el('span', { class: 'muted' }, 'no binding')),
    ));
    patch($('#exchanges tbody'), rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colspan: 4 }, 'no exchange declared'))]);
    renderGraph(graph);
  }
  function bindingHeaders(b) {
    const pairs = Object.entries(b.headers || {}).map(([k, v]) => k + '=' + v).join(', ');
    return (b.matchAny ? 'any ' : 'all ') + '{' + pairs + '}';
  }

  function renderGraph(g) {
    const box = $('#graph');
    const kids = [];
    if (!g.nodes.length) {
      box.setAttribute('width', 300);
      box.setAttribute('height', 30);
      box.setAttribute('viewBox', '0 0 300 30');
      patch(box, [svg('text', { x: 6, y: 20, class: 'none' }, 'no exchange to draw')]);
      return;
    }
    box.setAttribute('width', g.width);
    box.setAttribute('height', g.height);
    box.setAttribute('viewBox', '0 0 ' + g.width + ' ' + g.height);
    kids.push(svg('defs', {},
      svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8d96a7' })),
      svg('marker', { id: 'arrow-alt', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#c92a2a' }))));
    for (const e of g.edges) {
      const dx = Math.max(40, Math.abs(e.x2 - e.x1) / 2);
      const d = 'M' + e.x1 + ',' + e.y1 + ' C' + (e.x1 + dx) + ',' + e.y1 + ' ' + (e.x2 - dx) + ',' + e.y2 + ' ' + e.x2 + ',' + e.y2;
      kids.push(svg('path', {
        d, class: 'edge' + (e.alternate ? ' alt' : ''), 'marker-end': e.alternate ? 'url(#arrow-alt)' : 'url(#arrow)',
        'data-from': e.from, 'data-to': e.to,
      }, svg('title', {}, e.from + ' → ' + e.to + (e.label ? ' (' + e.label + ')' : ''))));
      if (e.label) {
        const label = e.label.length > 26 ? e.label.slice(0, 25) + '…' : e.label;
        const forward = e.x2 > e.x1;
        kids.push(svg('text', {
          class: 'label', x: forward ? e.x2 - 8 : e.x1 + 8, y: e.y2 - 5, 'text-anchor': forward ? 'end' : 'start',
        }, label));
      }
    }
    for (const nd of g.nodes) {
      const name = nd.name.length > 24 ? nd.name.slice(0, 23) + '…' : nd.name;
      kids.push(svg('g', { class: 'node ' + nd.kind, 'data-name': nd.name },
        svg('title', {}, nd.kind + ' ' + nd.name),
        svg('rect', { x: nd.x, y: nd.y, width: nd.w, height: nd.h, rx: 6 }),
        svg('text', { x: nd.x + 8, y: nd.y + nd.h / 2 + 4 }, name),
        svg('text', { class: 'kind', x: nd.x + nd.w - 6, y: nd.y + 11, 'text-anchor': 'end' }, nd.kind)));
    }
    patch(box, kids);
  }

  // --- the message browser ---
  let browsing = null; // { name, kind }
  function openBrowser(name, kind, scroll) {
    browsing = { name, kind };
    // A link to the page with this hash opens the same browser.
    history.replaceState(null, '', '#' + kind + '/' + encodeURIComponent(name));
    $('#browser').hidden = false;
    $('#browser-name').textContent = kind + ' ' + name;
    $('#messages-pos').textContent = kind === 'topic' ? 'Seq' : '#';
    // Smooth unless the reader asked for less motion.
    const behavior = matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth';
    loadMessages().then(() => scroll && $('#browser').scrollIntoView({ behavior, block: 'start' }));
  }
  $('#browser-close').addEventListener('click', () => {
    browsing = null;
    $('#browser').hidden = true;
    history.replaceState(null, '', location.pathname + location.search);
  });
  {
    const m = /^#(queue|topic)\/(.+)$/.exec(location.hash);
    if (m) {
      try {
        openBrowser(decodeURIComponent(m[2]), m[1]);
      } catch (e) {
        // a malformed hash opens nothing
      }
    }
  }

  async function loadMessages() {
    if (!browsing) return;
    const want = browsing;
    let res;
    try {
      res = await getJSON(path('messages', want.name));
    } catch (e) {
      if (browsing === want) {
        patch($('#messages tbody'), [el('tr', {}, el('td', { class: 'empty', colspan: 8 }, e.message))]);
      }
      return;
    }
    if (browsing !== want) return;
    $('#browser-count').textContent = res.messages.length < res.total
      ? 'first ' + res.messages.length + ' of ' + num(res.total) : num(res.total);
    if (want.kind === 'topic' && res.messages.length < res.total) {
      $('#browser-count').textContent = 'last ' + res.messages.length + ' of ' + num(res.total) + ' retained';
    }
    const kv = (h) => {
      const keys = Object.keys(h || {}).sort();
      return keys.length ? keys.map((k) => el('div', { class: 'kv' }, el('b', {}, k), ' ', h[k])) : el('span', { class: 'muted' }, '–');
    };
    const rows = res.messages.map((m, i) => {
      const dead = Object.keys(m.death || {}).length > 0;
      return el('tr', { class: dead ? 'dead' : '', 'data-id': m.id },
        td(want.kind === 'topic' ? m.seq : i + 1, 'n'),
        td(m.id, 'id', 'id'),
        td(m.key === '' ? '–' : m.key, '', 'key'),
        el('td', { 'data-col': 'headers' }, kv(m.headers)),
        el('td', { 'data-col': 'body' }, el('div', { class: 'type' }, m.body.type + (m.body.truncated ? ' (truncated)' : '')),
          el('pre', {}, m.body.preview)),
        el('td', { 'data-col': 'death' }, dead ? kv(m.death) : el('span', { class: 'muted' }, '–')),
        n(m.deliveries, 'deliveries'),
        td(new Date(m.time).toLocaleTimeString(), '', 'time'),
      );
    });
    patch($('#messages tbody'), rows.length ? rows : [el('tr', {}, el('td', { class: 'empty', colspan: 8 },
      want.kind === 'queue' ? 'no message ready' : 'no message retained'))]);
  }

  // --- the test publisher ---
  function renderDestinations(st) {
    const sel = $('#pub-dest');
    if (!sel) return;
    const names = [...st.queues.map((q) => ['queue', q.name]), ...st.topics.map((t) => ['topic', t.name]), ...st.exchanges.map((x) => ['exchange', x.name])];
    const sig = names.map((x) => x.join(':')).join('\n');
    if (sel.dataset.sig === sig) return;
    const keep = sel.value;
    sel.replaceChildren(...names.map(([kind, name]) => el('option', { value: name }, kind + ' ' + name)));
    sel.dataset.sig = sig;
    if (names.some(([, name]) => name === keep)) sel.value = keep;
  }
  const send = $('#pub-send');
  if (send) {
    send.addEventListener('click', async () => {
      const dest = $('#pub-dest').value;
      const headers = {};
      for (const line of $('#pub-headers').value.split('\n')) {
        const t = line.trim();
        if (!t) continue;
        const i = t.indexOf('=');
        if (i <= 0) { notice('header "' + t + '": want name=value', true); return; }
        headers[t.slice(0, i).trim()] = t.slice(i + 1).trim();
      }
      try {
        const res = await postJSON(path('publish', dest), { key: $('#pub-key').value, headers, body: $('#pub-body').value });
        notice('Published ' + res.id + ' to ' + dest + '.');
      } catch (e) {
        notice('publish to ' + dest + ': ' + e.message, true);
      }
      poll();
    });
  }

  // --- polling, only while the page is visible ---
  let timer = null;
  let inflight = false;
  let again = false; // asked for while a poll was under way: it may predate an action
  async function poll() {
    clearTimeout(timer);
    timer = null;
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    again = false;
    try {
      const st = await getJSON('api/state');
      renderOverview(st.overview);
      renderQueues(st.queues);
      renderTopics(st.topics);
      renderExchanges(st.exchanges, st.graph);
      renderDestinations(st);
      await loadMessages();
      status('live', 'live · ' + new Date(st.time).toLocaleTimeString());
    } catch (e) {
      status('error', 'error: ' + e.message);
    } finally {
      inflight = false;
      if (again) timer = setTimeout(poll, 0);
      else if (!document.hidden) timer = setTimeout(poll, refreshMS);
      else status('paused', 'paused while hidden');
    }
  }
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && timer === null && !inflight) poll();
  });
  poll();
})();
