import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The architecture's event rules, checked over the source (issue 10): features react to typed
 * events, never to the cloud's record format. `camera.event` is read only by its two transports
 * (the cloud link and the control socket's events.follow), and nobody outside src/cloud parses an
 * event type string with a regex or a prefix test.
 */
const SRC = join(import.meta.dirname, '../../../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** A regex literal that starts with a detection type (`/^(human|…`, `/(human|…`), a prefix test on a type, or exec() on one. */
const TYPE_TESTS = /\/(\^\(?|\()(human|vehicle|change)[|)\\.]|startsWith\('(human|vehicle|change)\.|\.type\.(startsWith|endsWith|match)\(|\.exec\([^)]*\.type\)/;

const sources = files(SRC).map((f) => ({ path: relative(SRC, f), text: readFileSync(f, 'utf8') }));

describe('event rules over src/', () => {
  it('only the cloud link and the control socket subscribe to camera.event', () => {
    const readers = sources.filter((s) => /\.on\(\s*[^,]+,\s*'camera\.event'/.test(s.text)).map((s) => s.path);
    expect(readers.sort()).toEqual(['cloud/service.ts', 'control/server.ts']);
  });

  it('no code outside src/cloud tests event type strings (regexes or prefixes of <type>.<phase>)', () => {
    // A regex literal that starts with a detection type (`/^(human|…`, `/(human|…`), a prefix test, or exec() on a type.
    const offenders = sources.filter((s) => !s.path.startsWith('cloud/') && TYPE_TESTS.test(s.text)).map((s) => s.path);
    expect(offenders).toEqual([]);
  });

  it('the checks above do catch what they look for', () => {
    for (const planted of ["const START = /^(human|vehicle|change)\\.start$/;", "if (e.type.startsWith('human.')) follow();", 'const m = DETECTION_START.exec(e.type);']) {
      expect(TYPE_TESTS.test(planted), planted).toBe(true);
    }
    expect(/\.on\(\s*[^,]+,\s*'camera\.event'/.test("ctx.bus.on(this, 'camera.event', (e) => this.onCameraEvent(e));")).toBe(true);
  });
});
