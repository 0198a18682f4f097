/**
 * Which fields of the state store are *telemetry*: counters, readings and positions that move
 * all the time (frame counts, health readings, free space, PUBACK times…). They leave the
 * retained `state` document and go out on `telemetry` every `cloud.telemetrySeconds`; the `state`
 * keeps what only changes when something happens (a service fails, the card fills, a person is
 * in view, the link drops), so it is published only then. Both documents have the store's shape:
 * a deep merge of `telemetry` over `state` gives the whole store back.
 *
 * A field not listed here stays in the state: a new field is visible at once rather than lost,
 * and a new counter that makes the state chatty shows up in the idle-traffic test
 * (test/integration/cloud-state.test.ts), which is the reminder to list it here.
 *
 * Path syntax: dot-separated keys from the top of the store; `*` is any key of a record (lens
 * names, child names, disks), `[]` every element of an array (an element's `id` is copied into the
 * telemetry so its entries can be matched up). A path names a whole subtree.
 */
export const TELEMETRY_PATHS: readonly string[] = [
  // Supervised children: a crash also changes `status` (state); the pid, count and start time are
  // detail. (One-shot children travel whole in telemetry: state-publisher.ts buildDocuments.)
  'children.*.pid',
  'children.*.restarts',
  'children.*.since',
  // Capture: segment and frame counters tick with every segment and tap frame.
  'capture.*.pid',
  'capture.*.restarts',
  'capture.*.segments',
  'capture.*.lastSegmentAt',
  'capture.*.tap.frames',
  'capture.*.tap.delivered',
  'capture.*.tap.dropped',
  'capture.*.tap.unpaired',
  'capture.*.tap.fps',
  'capture.*.tap.lastFrameAt',
  // Detection: per-frame counters and latency; `open` episodes and the model status stay state.
  'detection.model.restarts',
  'detection.lenses.*.framesIn',
  'detection.lenses.*.changeFrames',
  'detection.lenses.*.staticFrames',
  'detection.lenses.*.dropped',
  'detection.lenses.*.inferences',
  'detection.lenses.*.failed',
  'detection.lenses.*.events',
  'detection.lenses.*.lastEventAt',
  'detection.lenses.*.latencyMs',
  // Recording: kept/dropped/staging counts move every segment; `active` and `reasons` stay state.
  'recording.lenses.*.kept',
  'recording.lenses.*.dropped',
  'recording.lenses.*.staging',
  'recording.lenses.*.lastKeptAt',
  // Card: free space moves with every segment; `status` (in-use / full / …) is the state.
  'storage.freeBytes',
  'storage.freePercent',
  'storage.checkedAt',
  'storage.lastRetention',
  // Health readings; what does not move (core count, total memory, which mount) stays state.
  'health.at',
  'health.cpu.loadPercent',
  'health.cpu.loadAverage1m',
  'health.temperatureC',
  'health.memory.availableBytes',
  'health.memory.usedPercent',
  'health.disks.*.usedBytes',
  'health.disks.*.availableBytes',
  'health.disks.*.usePercent',
  'health.uptimeSeconds',
  // Network: signal strength and the time of each connectivity check; `ok`/`error` stay state.
  'network.wifi.signal',
  'network.check.at',
  'network.check.latencyMs',
  // Cloud link: per-event figures; the link phase and errors stay state.
  'cloud.attempt',
  'cloud.nextRetryAt',
  'cloud.lastPubackAt',
  'cloud.outbox.depth',
  'cloud.outbox.bytes',
  'cloud.outbox.inFlight',
  'cloud.outbox.segments',
  'cloud.outbox.dropped',
  // PTZ: the position moves continuously while patrolling or following (`ptz.get` reads it live).
  'ptz.pan',
  'ptz.tilt',
  'ptz.widePan',
  'ptz.moving',
  'ptz.target.pan',
  'ptz.target.tilt',
  // Live pushes: frames sent.
  'live.sessions[].frames',
];

interface Trie {
  /** The path ends here: the whole subtree is telemetry. */
  leaf?: true;
  keys: Map<string, Trie>;
}

function compile(paths: readonly string[]): Trie {
  const root: Trie = { keys: new Map() };
  for (const path of paths) {
    let node = root;
    for (const seg of path.split('.').flatMap((s) => (s.endsWith('[]') ? [s.slice(0, -2), '[]'] : [s]))) {
      let next = node.keys.get(seg);
      if (!next) node.keys.set(seg, (next = { keys: new Map() }));
      node = next;
    }
    node.leaf = true;
  }
  return root;
}

const DEFAULT_TRIE = compile(TELEMETRY_PATHS);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `[state part, telemetry part]`; `undefined` for "nothing on that side". */
type Parts = [unknown, unknown];

function splitNode(value: unknown, trie: Trie): Parts {
  if (trie.leaf) return [undefined, value];
  if (Array.isArray(value)) {
    const each = trie.keys.get('[]');
    if (!each) return [value, undefined];
    const parts = value.map((el) => splitNode(el, each));
    const tel = parts
      .map(([, t], i) => {
        if (t === undefined) return undefined;
        const id = isObject(value[i]) ? value[i].id : undefined;
        return id !== undefined && isObject(t) ? { id, ...t } : t;
      })
      .filter((t) => t !== undefined);
    return [parts.map(([s]) => s ?? {}), tel.length ? tel : undefined];
  }
  if (!isObject(value)) return [value, undefined];
  const state: Record<string, unknown> = {};
  const tel: Record<string, unknown> = {};
  let moved = false;
  for (const [key, v] of Object.entries(value)) {
    const child = trie.keys.get(key) ?? trie.keys.get('*');
    if (!child) {
      state[key] = v;
      continue;
    }
    const [s, t] = splitNode(v, child);
    if (s !== undefined) state[key] = s;
    if (t !== undefined) {
      tel[key] = t;
      moved = true;
    }
  }
  // An object emptied by the split (all of it telemetry) is left out of the state, not sent as {}.
  const keepState = Object.keys(state).length > 0 || Object.keys(value).length === 0;
  return [keepState ? state : undefined, moved ? tel : undefined];
}

export interface Split {
  state: Record<string, unknown>;
  telemetry: Record<string, unknown>;
}

/** Splits a document of the store's shape (see TELEMETRY_PATHS); the input is not modified. */
export function splitTelemetry(doc: Record<string, unknown>, paths: readonly string[] = TELEMETRY_PATHS): Split {
  const [state, telemetry] = splitNode(doc, paths === TELEMETRY_PATHS ? DEFAULT_TRIE : compile(paths));
  return { state: (state as Record<string, unknown> | undefined) ?? {}, telemetry: (telemetry as Record<string, unknown> | undefined) ?? {} };
}

