import { iou, type Box, type DetectionType, type ObjectClass, type ObjectDetection } from './types.js';

/**
 * Turns per-inference detections into episodes: one `start`, a few `update`s and one `end`
 * per stretch of time in which objects of one type are seen on one lens. The rules, and why,
 * are in src/detect/README.md ("Confirmation and continuity"); in short:
 *
 * - A detection is *strong* (score at or above the sensitivity's threshold) or *weak* (between
 *   the keep score and the threshold). A candidate object is confirmed by `k` strong hits among
 *   its last `n` looks (a look = an inference whose crops covered where it should be); a weak
 *   hit is neither a hit nor a miss for a candidate, since the model's score on a small person
 *   alternates around the threshold from look to look. Three misses in a row drop a candidate.
 * - A confirmed object is matched by position predicted from its velocity, with a gate that
 *   grows with the time since it was last seen (so re-finding it after a few missed looks is
 *   the same object, not a new one), and held by weak hits as well as strong ones.
 * - An episode stays open while one of its objects was seen within `lostAfterMs`, or while
 *   image change keeps moving around where it was last seen — bounded by `holdMaxMs` since its
 *   last strong hit, so a waving bush next to where someone stood cannot hold it forever.
 * - At most one event per type per observation, and never two events of one episode with the
 *   same timestamp.
 * - Cooldown (`detection.cooldownSeconds`): a `start` within the cooldown of the previous
 *   alerting start of the same type on the same lens carries `alert: false`.
 * - Image change is one pseudo-object per lens, confirmed by `k` changed frames among the last `n`.
 * All time comes from the observations' timestamps; the tracker never reads a clock.
 */
export type EpisodePhase = 'start' | 'update' | 'end';

export interface EpisodeEvent {
  id: string;
  phase: EpisodePhase;
  lens: string;
  type: DetectionType;
  /** Frame time (epoch ms) of the observation that produced it; for `end`, when it was declared over. */
  ts: number;
  startedAt: number;
  lastSeen: number;
  /** Current score for start/update, best score of the episode for end. */
  score: number;
  /** Normalised box of the best current object (change: union of changed regions). */
  box: Box;
  /** Distinct confirmed objects seen during the episode so far. */
  objects: number;
  /** False when this start falls within the cooldown of the previous alert (start only). */
  alert: boolean;
}

/** `k` hits among the last `n` looks confirm. */
export interface Confirmation {
  k: number;
  n: number;
}

export interface TrackerOptions {
  lens: string;
  confirm: Record<DetectionType, Confirmation>;
  lostAfterMs: number;
  /** Longest an episode is held by image change alone after its last strong hit. */
  holdMaxMs: number;
  cooldownMs: number;
  /** Minimum spacing of `update` events of one episode. */
  updateEveryMs: number;
  newId: () => string;
}

/** One detection as the pipeline hands it over: above the keep score, in the owner's areas. */
export interface TrackedDetection extends ObjectDetection {
  /** At or above the sensitivity's threshold (may confirm); false = weak (may only hold). */
  strong: boolean;
}

/** A track's position when the follower (or anyone) asks: the object and its episode. */
export interface TrackView {
  type: ObjectClass;
  episodeId: string;
  box: Box;
  score: number;
  ts: number;
}

/** Consecutive misses that drop a candidate (n − k + 1 for every tier of the sensitivity table). */
export const CANDIDATE_MISSES = 3;
/**
 * Fastest plausible motion of an object's centre, in image widths per second (a person running
 * across the wide lens in ~3 s, a car in ~1 s): the matching gate grows by this much per second unseen.
 */
const MAX_SPEED: Record<ObjectClass, number> = { human: 0.3, vehicle: 0.8 };
/** A box may grow or shrink this much between looks and still be the same object. */
const MAX_AREA_RATIO = 4;

interface Track {
  cls: ObjectClass;
  box: Box;
  score: number;
  /** Velocity of the box centre, normalised units per ms. */
  vx: number;
  vy: number;
  /** Last hit of any strength. */
  lastTs: number;
  lastStrongTs: number;
  /** Last frame with image change around it (confirmed tracks only). */
  motionTs: number;
  /** Candidate looks, newest last: true = strong hit, false = miss. */
  looks: boolean[];
  confirmed: boolean;
}

interface Episode {
  id: string;
  type: DetectionType;
  startedAt: number;
  lastSeen: number;
  lastStrong: number;
  lastMotion: number;
  lastUpdate: number;
  lastEmitted: number;
  lastObs: number;
  score: number;
  best: number;
  box: Box;
  objects: number;
}

interface Sighting {
  score: number;
  box: Box;
  strong: boolean;
  newObjects: number;
}

export class EpisodeTracker {
  private opts: TrackerOptions;
  private tracks: Track[] = [];
  private readonly episodes = new Map<DetectionType, Episode>();
  private readonly lastAlert = new Map<DetectionType, number>();
  private changeLooks: boolean[] = [];

  constructor(opts: TrackerOptions) {
    this.opts = opts;
  }

  setOptions(opts: Partial<Omit<TrackerOptions, 'lens' | 'newId'>>): void {
    this.opts = { ...this.opts, ...opts };
  }

  /** Where every tracked object (candidates too) should be now: the pipeline keeps looking there. */
  activeBoxes(ts?: number): Box[] {
    return this.tracks.map((t) => (ts === undefined ? t.box : predict(t, ts)));
  }

  /** Confirmed objects with their episode, newest position: what PTZ follow steers by. */
  confirmedTracks(): TrackView[] {
    const out: TrackView[] = [];
    for (const t of this.tracks) {
      const ep = this.episodes.get(t.cls);
      if (t.confirmed && ep) out.push({ type: t.cls, episodeId: ep.id, box: { ...t.box }, score: t.score, ts: t.lastTs });
    }
    return out;
  }

  isOpen(type: DetectionType): boolean {
    return this.episodes.has(type);
  }

  /** One inference result (all crops of one frame). `looked` are the crops, normalised. */
  observeObjects(ts: number, dets: readonly TrackedDetection[], looked: readonly Box[]): EpisodeEvent[] {
    const matched = new Set<Track>();
    const confirmedNow = new Set<Track>();
    const pending = [...dets].sort((a, b) => b.score - a.score);
    for (const d of pending) {
      const t = this.bestTrack(d, matched, ts);
      if (t) {
        matched.add(t);
        this.hit(t, d, ts);
      } else if (d.strong) {
        const nt: Track = { cls: d.cls, box: d.box, score: d.score, vx: 0, vy: 0, lastTs: ts, lastStrongTs: ts, motionTs: -Infinity, looks: [true], confirmed: false };
        this.tracks.push(nt);
        matched.add(nt);
      }
      // A weak detection that matches nothing is ignored: weak evidence never starts anything.
    }
    const keep: Track[] = [];
    for (const t of this.tracks) {
      if (!t.confirmed && !matched.has(t) && looked.some((b) => containsCentre(b, predict(t, ts)))) t.looks.push(false);
      if (!t.confirmed) {
        const c = this.opts.confirm[t.cls];
        if (t.looks.length > c.n) t.looks.splice(0, t.looks.length - c.n);
        if (trailingMisses(t.looks) >= CANDIDATE_MISSES) continue;
        if (t.looks.filter(Boolean).length >= c.k) {
          t.confirmed = true;
          confirmedNow.add(t);
        }
      }
      keep.push(t);
    }
    this.tracks = keep;

    const sightings = new Map<ObjectClass, Sighting>();
    for (const t of this.tracks) {
      if (!t.confirmed || !matched.has(t)) continue;
      const s = sightings.get(t.cls);
      const isNew = confirmedNow.has(t) ? 1 : 0;
      const strong = t.lastStrongTs === ts;
      if (!s) sightings.set(t.cls, { score: t.score, box: t.box, strong, newObjects: isNew });
      else {
        s.newObjects += isNew;
        s.strong ||= strong;
        if (t.score > s.score) {
          s.score = t.score;
          s.box = t.box;
        }
      }
    }
    const events: EpisodeEvent[] = [];
    for (const [cls, s] of sightings) events.push(...this.sighting(cls, ts, s));
    return events;
  }

  /**
   * Image change of one frame (boxes of the changed regions, any size): confirmed objects
   * with change around them are still there even when the detector misses them.
   */
  observeMotion(ts: number, regions: readonly Box[]): void {
    if (regions.length === 0) return;
    for (const t of this.tracks) {
      if (!t.confirmed) continue;
      const around = grow(predict(t, ts), 0.5);
      if (!regions.some((r) => overlaps(r, around))) continue;
      t.motionTs = ts;
      const ep = this.episodes.get(t.cls);
      if (ep) ep.lastMotion = Math.max(ep.lastMotion, ts);
    }
  }

  /** One change-detector result: the union box of changed regions in the areas, or null. */
  observeChange(ts: number, box: Box | null, score: number): EpisodeEvent[] {
    const c = this.opts.confirm.change;
    this.changeLooks.push(box !== null);
    if (this.changeLooks.length > c.n) this.changeLooks.splice(0, this.changeLooks.length - c.n);
    if (!box || this.changeLooks.filter(Boolean).length < c.k) return [];
    return this.sighting('change', ts, { score, box, strong: true, newObjects: this.episodes.has('change') ? 0 : 1 });
  }

  /** Ends episodes and forgets objects no longer plausibly there. Call on every frame. */
  tick(ts: number): EpisodeEvent[] {
    this.tracks = this.tracks.filter((t) => ts <= this.heldUntil(t.lastTs, t.lastStrongTs, t.confirmed ? t.motionTs : -Infinity));
    const events: EpisodeEvent[] = [];
    for (const [type, ep] of this.episodes) {
      if (ts > this.heldUntil(ep.lastSeen, ep.lastStrong, ep.lastMotion)) events.push(this.close(type, ep, ts));
    }
    return events;
  }

  /** Ends everything (lens stopped, detection disabled). */
  finish(ts: number): EpisodeEvent[] {
    this.tracks = [];
    this.changeLooks = [];
    return [...this.episodes].map(([type, ep]) => this.close(type, ep, ts));
  }

  /**
   * Seen within lostAfter, or change around it within lostAfter — the latter never beyond
   * holdMax after the last strong hit.
   */
  private heldUntil(lastSeen: number, lastStrong: number, lastMotion: number): number {
    const lost = this.opts.lostAfterMs;
    return Math.max(lastSeen + lost, Math.min(lastMotion + lost, lastStrong + this.opts.holdMaxMs));
  }

  private hit(t: Track, d: TrackedDetection, ts: number): void {
    const dt = ts - t.lastTs;
    if (dt > 0) {
      // Smoothed centre velocity: enough to predict where to look and to widen the gate.
      const [ox, oy] = centre(t.box);
      const [nx, ny] = centre(d.box);
      t.vx = t.vx === 0 ? (nx - ox) / dt : 0.5 * t.vx + 0.5 * ((nx - ox) / dt);
      t.vy = t.vy === 0 ? (ny - oy) / dt : 0.5 * t.vy + 0.5 * ((ny - oy) / dt);
    }
    t.box = d.box;
    t.score = d.score;
    t.lastTs = ts;
    if (d.strong) t.lastStrongTs = ts;
    if (!t.confirmed) {
      // A weak look at a candidate is neutral: neither a hit nor a miss.
      if (d.strong) t.looks.push(true);
    }
  }

  private bestTrack(d: TrackedDetection, taken: ReadonlySet<Track>, ts: number): Track | null {
    let best: Track | null = null;
    let bestCost = Infinity;
    for (const t of this.tracks) {
      if (t.cls !== d.cls || taken.has(t)) continue;
      const p = predict(t, ts);
      const area = (d.box.w * d.box.h) / Math.max(p.w * p.h, 1e-9);
      if (area > MAX_AREA_RATIO || area < 1 / MAX_AREA_RATIO) continue;
      const o = iou(p, d.box);
      const scale = Math.max(p.w, p.h, d.box.w, d.box.h, 1e-6);
      const dist = centreDistance(p, d.box) / scale;
      // Overlapping, or the centre within ~ its own size of the prediction, plus how far the
      // object could have gone unseen since (low inference rates, missed looks).
      const unseenS = Math.max(0, ts - t.lastTs) / 1000;
      const reach = 0.75 + (MAX_SPEED[t.cls] * unseenS) / scale;
      if (o < 0.1 && dist > reach) continue;
      const cost = 1 - o + dist;
      if (cost < bestCost) {
        bestCost = cost;
        best = t;
      }
    }
    return best;
  }

  private sighting(type: DetectionType, ts: number, s: Sighting): EpisodeEvent[] {
    const ep = this.episodes.get(type);
    if (!ep) {
      const last = this.lastAlert.get(type);
      const alert = last === undefined || ts - last >= this.opts.cooldownMs;
      if (alert) this.lastAlert.set(type, ts);
      const created: Episode = {
        id: this.opts.newId(), type, startedAt: ts, lastSeen: ts, lastStrong: ts, lastMotion: -Infinity,
        lastUpdate: ts, lastEmitted: ts, lastObs: ts, score: s.score, best: s.score, box: s.box, objects: Math.max(1, s.newObjects),
      };
      this.episodes.set(type, created);
      return [this.event(created, 'start', ts, alert)];
    }
    ep.lastSeen = Math.max(ep.lastSeen, ts);
    if (s.strong) ep.lastStrong = Math.max(ep.lastStrong, ts);
    ep.best = Math.max(ep.best, s.score);
    // The episode shows the strongest object of the latest observation.
    if (ts > ep.lastObs || s.score > ep.score) {
      ep.score = s.score;
      ep.box = s.box;
    }
    ep.lastObs = ts;
    if (type !== 'change') ep.objects += s.newObjects;
    // One event per episode per instant: a second observation at the same ts adds nothing new to say.
    if (ts <= ep.lastEmitted) return [];
    if ((type !== 'change' && s.newObjects > 0) || ts - ep.lastUpdate >= this.opts.updateEveryMs) {
      ep.lastUpdate = ts;
      ep.lastEmitted = ts;
      return [this.event(ep, 'update', ts, false)];
    }
    return [];
  }

  private close(type: DetectionType, ep: Episode, ts: number): EpisodeEvent {
    this.episodes.delete(type);
    if (type === 'change') this.changeLooks = [];
    return { ...this.event(ep, 'end', ts, false), score: ep.best };
  }

  private event(ep: Episode, phase: EpisodePhase, ts: number, alert: boolean): EpisodeEvent {
    return {
      id: ep.id,
      phase,
      lens: this.opts.lens,
      type: ep.type,
      ts,
      startedAt: ep.startedAt,
      lastSeen: ep.lastSeen,
      score: ep.score,
      box: { ...ep.box },
      objects: ep.objects,
      alert,
    };
  }
}

function trailingMisses(looks: readonly boolean[]): number {
  let n = 0;
  for (let i = looks.length - 1; i >= 0 && looks[i] === false; i--) n++;
  return n;
}

function centre(b: Box): [number, number] {
  return [b.x + b.w / 2, b.y + b.h / 2];
}

/** Where the track's box should be at `ts`, moved by its velocity (at most 2 s ahead), kept in the image. */
function predict(t: Track, ts: number): Box {
  const dt = Math.min(2000, Math.max(0, ts - t.lastTs));
  if (dt === 0 || (t.vx === 0 && t.vy === 0)) return t.box;
  const x = clamp(t.box.x + t.vx * dt, -t.box.w / 2, 1 - t.box.w / 2);
  const y = clamp(t.box.y + t.vy * dt, -t.box.h / 2, 1 - t.box.h / 2);
  return { x, y, w: t.box.w, h: t.box.h };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function grow(b: Box, by: number): Box {
  return { x: b.x - (b.w * by) / 2, y: b.y - (b.h * by) / 2, w: b.w * (1 + by), h: b.h * (1 + by) };
}

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

function containsCentre(outer: Box, b: Box): boolean {
  const [cx, cy] = centre(b);
  return cx >= outer.x && cx <= outer.x + outer.w && cy >= outer.y && cy <= outer.y + outer.h;
}

function centreDistance(a: Box, b: Box): number {
  const [ax, ay] = centre(a);
  const [bx, by] = centre(b);
  return Math.hypot(ax - bx, ay - by);
}
