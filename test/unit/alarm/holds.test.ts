import { describe, expect, it } from 'vitest';
import { Holds } from '../../../src/alarm/holds.js';

describe('Holds', () => {
  it('an output is on while any hold is live; expiry drops only ended holds', () => {
    const h = new Holds();
    h.set('siren', { source: 'human', until: 1000, since: 0, tone: 'beep' });
    h.set('siren', { source: 'manual', until: 5000, since: 10, tone: 'siren' });
    expect(h.nextExpiry()).toBe(1000);
    expect(h.expire(999)).toBe(false);
    expect(h.expire(1000)).toBe(true);
    expect(h.list('siren').map((x) => x.source)).toEqual(['manual']);
    expect(h.expire(5000)).toBe(true);
    expect(h.has('siren')).toBe(false);
  });

  it('a repeated hold from the same source extends, never shortens', () => {
    const h = new Holds();
    h.set('spotlight', { source: 'change', until: 10_000, since: 0 });
    h.set('spotlight', { source: 'change', until: 4_000, since: 1 });
    expect(h.list('spotlight')[0]!.until).toBe(10_000);
    h.set('spotlight', { source: 'change', until: 16_000, since: 2 });
    expect(h.list('spotlight')[0]!.until).toBe(16_000);
  });

  it('latest prefers the given source, else the most recent; the app toggle is no alarm', () => {
    const h = new Holds();
    h.set('siren', { source: 'human', until: 100, since: 5, tone: 'chime' });
    h.set('siren', { source: 'vehicle', until: 100, since: 7, tone: 'beep' });
    expect(h.latest('siren')?.tone).toBe('beep');
    h.set('siren', { source: 'manual', until: 100, since: 1, tone: 'siren' });
    expect(h.latest('siren', 'manual')?.tone).toBe('siren');
    h.set('spotlight', { source: 'app', until: null, since: 9 });
    expect(h.alarmHolds().map((x) => x.source).sort()).toEqual(['human', 'manual', 'vehicle']);
    expect(h.nextExpiry()).toBe(100);
    expect(h.releaseSource('manual')).toBe(true);
    expect(h.releaseSource('manual')).toBe(false);
  });
});
