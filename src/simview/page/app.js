// The sim-view page: everything arrives on one server-sent event stream (/events); the inputs go
// back as POST /cmd. `window.simview` holds what the page has seen, for the browser test and the
// latency bench (edge timestamps on the daemon's clock vs Date.now() here, same machine).
'use strict';
const $ = (sel) => document.querySelector(sel);
const view = (window.simview = { levels: {}, edges: 0, latencies: [], serverLatencies: [], tracks: 0, events: [], ptz: null, factoryReset: false, hello: 0 });
const LED_LINES = { ledRed: 'red', ledBlue: 'blue' };
const OUTPUT_LINES = ['strobeRed', 'strobeBlue', 'spotlightEnable', 'siren'];
/** Recent edge times per LED line: a line that changed twice within this window blinks. */
const BLINK_WINDOW_MS = 2500;
const ledEdges = { ledRed: [], ledBlue: [] };
const tracks = { wide: [], ptz: [] };
let detection = null;

function onTimeline(entry, rx) {
  if (entry.kind !== 'gpio') return;
  const now = Date.now();
  view.edges++;
  view.latencies.push(now - entry.t);
  if (rx) view.serverLatencies.push(rx - entry.t);
  if (view.latencies.length > 5000) view.latencies.splice(0, 1000);
  if (view.serverLatencies.length > 5000) view.serverLatencies.splice(0, 1000);
  const prev = view.levels[entry.name];
  view.levels[entry.name] = entry.value;
  if (entry.name in ledEdges && prev !== entry.value) ledEdges[entry.name].push(entry.t);
  drawLed();
  drawOutputs();
}

/** Colour from the levels now; solid or blinking from the recent edges (slow ≈ 1 s, fast ≈ 250 ms). */
function drawLed() {
  const now = Date.now();
  let color = 'off';
  let mode = 'solid';
  let blinking = null;
  for (const [line, name] of Object.entries(LED_LINES)) {
    const recent = ledEdges[line].filter((t) => now - t < BLINK_WINDOW_MS);
    ledEdges[line] = recent;
    if (recent.length >= 2) {
      const gaps = recent.slice(1).map((t, i) => t - recent[i]);
      const gap = gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
      blinking = { name, mode: gap * 2 < 600 ? 'fast' : 'slow' };
    }
  }
  const red = view.levels.ledRed === 1;
  const blue = view.levels.ledBlue === 1;
  if (blinking) {
    color = blinking.name;
    mode = blinking.mode;
  } else if (red && blue) color = 'purple';
  else if (red) color = 'red';
  else if (blue) color = 'blue';
  const el = $('#led');
  el.classList.toggle('r', red);
  el.classList.toggle('b', blue);
  el.dataset.led = color === 'off' ? 'off' : `${color}-${mode}`;
  $('#led-text').textContent = color === 'off' ? 'off' : `${color}, ${mode}`;
}
setInterval(drawLed, 250);

function drawOutputs() {
  for (const line of OUTPUT_LINES) $(`#out-${line}`)?.classList.toggle('on', view.levels[line] === 1);
}

function onState(state) {
  if (state.lifecycle) $('#lifecycle').textContent = state.lifecycle;
  if (state.ptz) drawPtz(state.ptz);
  if (state.storage !== undefined) drawCard(state.storage);
  if (state.network) $('#net-text').textContent = `network ${state.network.phase}${state.network.reason ? ` (${state.network.reason})` : ''}`;
  if (state.liveViewers !== undefined) $('#live-text').textContent = state.liveViewers > 0 ? `live view: ${state.liveViewers} watching` : 'live view: nobody watching';
}

function drawPtz(p) {
  view.ptz = p;
  const dial = $('#ptz-dial');
  dial.dataset.pan = String(Math.round(p.pan));
  dial.dataset.tilt = String(Math.round(p.tilt));
  $('#ptz-needle').setAttribute('transform', `rotate(${p.pan})`);
  $('#tilt-needle').setAttribute('transform', `rotate(${-p.tilt})`);
  $('#ptz-text').textContent = `PTZ pan ${p.pan.toFixed(1)}° tilt ${p.tilt.toFixed(1)}°${p.moving ? ' (moving)' : ''} · ${p.mode}`;
  if (p.widePan !== null && p.widePan !== undefined) {
    $('#wide-dial').dataset.pan = String(Math.round(p.widePan));
    $('#wide-needle').setAttribute('transform', `rotate(${p.widePan})`);
    $('#wide-text').textContent = `wide pan ${p.widePan.toFixed(1)}°`;
  }
  const sel = $('#preset-name');
  const names = p.presets ?? [];
  if (sel.dataset.names !== names.join(',')) {
    sel.dataset.names = names.join(',');
    sel.replaceChildren(...names.map((n) => Object.assign(document.createElement('option'), { value: n, textContent: n })));
  }
}

function drawCard(s) {
  const el = $('#card-text');
  if (!s) return void (el.textContent = 'card –');
  const free = s.totalBytes ? ` · ${Math.round((s.freeBytes / s.totalBytes) * 100)}% free` : '';
  el.textContent = `card ${s.status}${free}${s.reason ? ` (${s.reason})` : ''}`;
  el.dataset.status = s.status;
}

function drawZones() {
  for (const lens of ['wide', 'ptz']) {
    const g = $(`#lens-${lens} .zones`);
    const polys = [];
    for (const algo of Object.values(detection ?? {})) {
      for (const poly of algo?.areas?.[lens] ?? []) polys.push(poly);
    }
    g.replaceChildren(...polys.map((poly) => svg('polygon', { points: poly.map(([x, y]) => `${x},${y}`).join(' ') })));
  }
}

function svg(tag, attrs) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Boxes of tracks seen within the last 1.5 s, per lens (one inference per frame tap tick). */
function drawBoxes() {
  const now = Date.now();
  for (const lens of ['wide', 'ptz']) {
    tracks[lens] = tracks[lens].filter((t) => now - t.at < 1500);
    const latest = new Map();
    for (const t of tracks[lens]) latest.set(`${t.episodeId}/${t.i}`, t);
    const g = $(`#lens-${lens} .boxes`);
    g.replaceChildren(...[...latest.values()].map((t) => svg('rect', { class: `box ${t.type}`, x: t.box.x, y: t.box.y, width: t.box.w, height: t.box.h })));
  }
}
setInterval(drawBoxes, 250);

function onTrack(t) {
  view.tracks++;
  const list = tracks[t.lens];
  if (!list) return;
  // Tracks of one inference share a ts: index them so several objects of an episode all show.
  const same = list.filter((x) => x.ts === t.ts && x.episodeId === t.episodeId).length;
  list.push({ ...t, at: Date.now(), i: same });
  drawBoxes();
}

function onEvent(ev) {
  view.events.push({ type: ev.type, kind: ev.kind, ts: ev.ts });
  if (view.events.length > 500) view.events.splice(0, 100);
  if (ev.type === 'reset.factory') {
    view.factoryReset = true;
    const b = $('#banner');
    b.hidden = false;
    b.textContent = `factory reset (${ev.data?.source ?? '?'}) — the camera restarts`;
  }
  const li = document.createElement('li');
  const score = typeof ev.data?.score === 'number' ? ` ${ev.data.score.toFixed(2)}` : '';
  li.innerHTML = '<span class="t"></span> <span class="k"></span>';
  li.querySelector('.t').textContent = new Date(ev.ts).toLocaleTimeString();
  const k = li.querySelector('.k');
  k.className = `k k-${ev.kind}`;
  k.textContent = `${ev.kind} ${ev.type}${ev.lens ? ` [${ev.lens}]` : ''}${score}${ev.data?.episodeId ? ` ep ${String(ev.data.episodeId).slice(0, 8)}` : ''}`;
  const list = $('#events');
  list.prepend(li);
  while (list.children.length > 60) list.lastChild.remove();
}

function onFrame(f) {
  const img = $(`#lens-${f.lens} img`);
  img.src = `/frame/${f.lens}?n=${f.n}`;
  $(`#lens-${f.lens} .meta`).textContent = new Date(f.ts).toLocaleTimeString();
}

function onHello(h) {
  view.hello++;
  view.levels = { ...h.levels };
  detection = h.detection;
  drawZones();
  onState(h.state ?? {});
  drawLed();
  drawOutputs();
}

const source = new EventSource('/events');
source.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (msg.type === 'timeline') onTimeline(msg.entry, msg.rx);
  else if (msg.type === 'state') {
    onState(msg.state);
    if (msg.changed.includes('config')) void refreshDetection();
  } else if (msg.type === 'track') onTrack(msg.track);
  else if (msg.type === 'event') onEvent(msg.event);
  else if (msg.type === 'frame') onFrame(msg);
  else if (msg.type === 'hello') onHello(msg);
  else if (msg.type === 'link') {
    const el = $('#link');
    el.dataset.connected = msg.connected ? '1' : '0';
    el.textContent = msg.connected ? 'daemon connected' : `daemon not connected${msg.reason ? `: ${msg.reason}` : ''}`;
  }
};

async function refreshDetection() {
  const r = await post('config.get', { path: 'detection' }).catch(() => null);
  if (r?.ok) {
    detection = r.result;
    drawZones();
  }
}

async function post(cmd, args) {
  const res = await fetch('/cmd', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cmd, args }) });
  return res.json();
}

async function run(cmd, args) {
  const out = $('#cmd-result');
  out.textContent = `${cmd}…`;
  const r = await post(cmd, args).catch((err) => ({ ok: false, error: { message: String(err) } }));
  out.textContent = r.ok ? `${cmd}: ok` : `${cmd}: ${r.error?.message ?? 'failed'}`;
  out.dataset.last = `${cmd}:${r.ok ? 'ok' : 'error'}`;
  return r;
}

for (const b of document.querySelectorAll('button[data-cmd]')) {
  b.addEventListener('click', () => void run(b.dataset.cmd, JSON.parse(b.dataset.args || '{}')));
}
$('#preset-save').addEventListener('click', () => {
  const name = prompt('preset name', 'demo');
  if (name) void run('ptz.preset.save', { name });
});
$('#preset-goto').addEventListener('click', () => {
  const name = $('#preset-name').value;
  if (name) void run('ptz.preset.goto', { name });
});
// RESET as a real button: the press lasts as long as it is held (sim.press plays it out on release).
let downAt = 0;
const hold = $('#reset-hold');
hold.addEventListener('pointerdown', () => (downAt = Date.now()));
hold.addEventListener('pointerup', () => {
  if (!downAt) return;
  const ms = Math.max(1, Math.min(60_000, Date.now() - downAt));
  downAt = 0;
  void run('sim.press', { button: 'reset', ms });
});
