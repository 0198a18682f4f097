import type { DetectionEpisode, EpisodePhase } from '../../src/domain/episode.js';
import type { DetectionType, LensName } from '../../src/domain/types.js';

/**
 * A `detection.episode` as the detection service emits it, for tests that drive the alarm, the
 * recorder or PTZ follow without a detector. Defaults: a person on the wide lens, alerting.
 */
export function episode(type: DetectionType, phase: EpisodePhase, over: Partial<DetectionEpisode> = {}): DetectionEpisode {
  const ts = over.ts ?? Date.now();
  return {
    phase,
    id: 'e1',
    lens: 'wide' satisfies LensName,
    type,
    ts,
    box: { x: 0.4, y: 0.3, w: 0.1, h: 0.3 },
    score: 0.9,
    objects: 1,
    startedAt: ts,
    lastSeen: ts,
    alert: true,
    ...(phase === 'end' ? { reason: 'gone' as const } : {}),
    ...over,
  };
}
