import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../../src/core/paths.js';

describe('projectRoot', () => {
  it('finds the root above src (tsx) and above dist/src (compiled, release)', () => {
    expect(projectRoot('file:///work/main/src/main.ts')).toBe('/work/main');
    expect(projectRoot('file:///work/main/src/cli/camctl.ts')).toBe('/work/main');
    expect(projectRoot('file:///work/main/dist/src/cli/camctl.js')).toBe('/work/main');
    expect(projectRoot('file:///opt/camd/releases/0.1.0/dist/src/main.js')).toBe('/opt/camd/releases/0.1.0');
  });

  it('uses the innermost src when the checkout itself sits under a folder called src', () => {
    expect(projectRoot('file:///home/dev/src/camd/src/main.ts')).toBe('/home/dev/src/camd');
  });
});
