import { iou, type Box, type DetectionType, type ObjectClass, type ObjectDetection } from './types.js';

/**
 * Turns per-inference detections into episodes: one `start`, a few `update`s and one `end`
 * per stretch of time in which objects of one type are seen on one lens.
 *
 * - Objects are tracked per class by overlap. A new object counts only after `confirmHits`
 *   consecutive inferences that looked at it (its centre inside a crop) all found it; one
 *   look that misses it discards the candidate. This is what keeps a single bad frame from
 *   becoming an alarm.
 * - An episode stays open while any confirmed object of its type was seen within
 *   `lostAfterMs`; detection dropouts shorter than that (a person turning, motion blur) do not
 *   split it: one person walking by is one episode.
 * - Cooldown (`detection.cooldownSeconds`): a `start` within the cooldown of the previous
 *   alerting start of the same type on the same lens carries `alert: false`. The episode is
 *   still reported (the cloud gets every event), but lights, siren and push stay quiet.
 * - Image change is one pseudo-object per lens, confirmed by consecutive changed frames.
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

export interface TrackerOptions {
  lens: string;
  confirmHits: Record<DetectionType, number>;
  lostAfterMs: number;
  cooldownMs: number;
  /** Minimum spacing of `update` events of one episode. */
  updateEveryMs: number;
  newId: () => string;
}

interface Track {
  cls: ObjectClass;
  box: Box;
  score: number;
  hits: number;
  lastTs: number;
  confirmed: boolean;
}

interface Episode {
  id: string;
  type: DetectionType;
  startedAt: number;
  lastSeen: number;
  lastUpdate: number;
  lastObs: number;
  score: number;
  best: number;
  box: Box;
  objects: number;
}

export class EpisodeTracker {
  private opts: TrackerOptions;
  private tracks: Track[] = [];
  private readonly episodes = new Map<DetectionType, Episode>();
  private readonly lastAlert = new Map<DetectionType, number>();
  private changeRun = 0;

  constructor(opts: TrackerOptions) {
    this.opts = opts;
  }

  setOptions(opts: Partial<Omit<TrackerOptions, 'lens' | 'newId'>>): void {
    this.opts = { ...this.opts, ...opts };
  }

  /** Boxes of every object being tracked (candidates too): the pipeline keeps looking at them. */
  activeBoxes(): Box[] {
    return this.tracks.map((t) => t.box);
  }

  isOpen(type: DetectionType): boolean {
    return this.episodes.has(type);
  }

  /** One inference result (all crops of one frame). `looked` are the crops, normalised. */
  observeObjects(ts: number, dets: readonly ObjectDetection[], looked: readonly Box[]): EpisodeEvent[] {
    const events: EpisodeEvent[] = [];
    const matched = new Set<Track>();
    const pending = [...dets].sort((a, b) => b.score - a.score);
    for (const d of pending) {
      const t = this.bestTrack(d, matched);
      if (t) {
        matched.add(t);
        t.box = d.box;
        t.score = d.score;
        t.hits++;
        t.lastTs = ts;
      } else {
        const nt: Track = { cls: d.cls, box: d.box, score: d.score, hits: 1, lastTs: ts, confirmed: false };
        this.tracks.push(nt);
        matched.add(nt);
      }
    }
    // A candidate that was looked at and not found is dropped: confirmation needs consecutive hits.
    this.tracks = this.tracks.filter((t) => t.confirmed || matched.has(t) || !looked.some((b) => containsCentre(b, t.box)));
    for (const t of this.tracks) {
      if (!matched.has(t)) continue;
      if (!t.confirmed && t.hits >= this.opts.confirmHits[t.cls]) {
        t.confirmed = true;
        events.push(...this.sighting(t.cls, ts, t.score, t.box, true));
      } else if (t.confirmed) {
        events.push(...this.sighting(t.cls, ts, t.score, t.box, false));
      }
    }
    return events;
  }

  /** One change-detector result: the union box of changed regions in the areas, or null. */
  observeChange(ts: number, box: Box | null, score: number): EpisodeEvent[] {
    if (!box) {
      this.changeRun = 0;
      return [];
    }
    this.changeRun++;
    if (this.changeRun < this.opts.confirmHits.change) return [];
    return this.sighting('change', ts, score, box, !this.episodes.has('change'));
  }

  /** Ends episodes and forgets objects not seen for `lostAfterMs`. Call on every frame. */
  tick(ts: number): EpisodeEvent[] {
    const lost = this.opts.lostAfterMs;
    this.tracks = this.tracks.filter((t) => ts - t.lastTs <= lost);
    const events: EpisodeEvent[] = [];
    for (const [type, ep] of this.episodes) {
      if (ts - ep.lastSeen > lost) events.push(this.close(type, ep, ts));
    }
    return events;
  }

  /** Ends everything (lens stopped, detection disabled). */
  finish(ts: number): EpisodeEvent[] {
    this.tracks = [];
    this.changeRun = 0;
    return [...this.episodes].map(([type, ep]) => this.close(type, ep, ts));
  }

  private bestTrack(d: ObjectDetection, taken: ReadonlySet<Track>): Track | null {
    let best: Track | null = null;
    let bestCost = Infinity;
    for (const t of this.tracks) {
      if (t.cls !== d.cls || taken.has(t)) continue;
      const o = iou(t.box, d.box);
      const dist = centreDistance(t.box, d.box);
      // Overlapping, or the centre moved less than ~ its own size (low inference rates).
      if (o < 0.1 && dist > 0.75) continue;
      const cost = 1 - o + dist;
      if (cost < bestCost) {
        bestCost = cost;
        best = t;
      }
    }
    return best;
  }

  private sighting(type: DetectionType, ts: number, score: number, box: Box, newObject: boolean): EpisodeEvent[] {
    const ep = this.episodes.get(type);
    if (!ep) {
      const last = this.lastAlert.get(type);
      const alert = last === undefined || ts - last >= this.opts.cooldownMs;
      if (alert) this.lastAlert.set(type, ts);
      const created: Episode = { id: this.opts.newId(), type, startedAt: ts, lastSeen: ts, lastUpdate: ts, lastObs: ts, score, best: score, box, objects: 1 };
      this.episodes.set(type, created);
      return [this.event(created, 'start', ts, alert)];
    }
    ep.lastSeen = Math.max(ep.lastSeen, ts);
    ep.best = Math.max(ep.best, score);
    // The episode shows the strongest object of the latest observation.
    if (ts > ep.lastObs || score > ep.score) {
      ep.score = score;
      ep.box = box;
    }
    ep.lastObs = ts;
    if (newObject && type !== 'change') ep.objects++;
    if (newObject || ts - ep.lastUpdate >= this.opts.updateEveryMs) {
      ep.lastUpdate = ts;
      return [this.event(ep, 'update', ts, false)];
    }
    return [];
  }

  private close(type: DetectionType, ep: Episode, ts: number): EpisodeEvent {
    this.episodes.delete(type);
    if (type === 'change') this.changeRun = 0;
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

function containsCentre(outer: Box, b: Box): boolean {
  const cx = b.x + b.w / 2;
  const cy = b.y + b.h / 2;
  return cx >= outer.x && cx <= outer.x + outer.w && cy >= outer.y && cy <= outer.y + outer.h;
}

/** Centre distance in units of the larger box's larger side. */
function centreDistance(a: Box, b: Box): number {
  const dx = a.x + a.w / 2 - (b.x + b.w / 2);
  const dy = a.y + a.h / 2 - (b.y + b.h / 2);
  const scale = Math.max(a.w, a.h, b.w, b.h, 1e-6);
  return Math.hypot(dx, dy) / scale;
}
