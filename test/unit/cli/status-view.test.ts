import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { setColour, setDisplayZone } from '../../../src/cli/format.js';
import { formatLed, formatStatus } from '../../../src/cli/views/status.js';

/** `camctl --json status` / `led` taken from a real sim daemon (a card in use, the cloud unreachable, a person in view). */
const fixture = (name: string) => (JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/camctl', name), 'utf8')) as { result: Record<string, unknown> }).result;

describe('camctl status for people', () => {
  beforeEach(() => {
    setColour(false);
    setDisplayZone('UTC');
  });

  it('fits 80 columns and prints no JSON', () => {
    const text = formatStatus(fixture('status.json'));
    for (const line of text.split('\n')) {
      expect(line.length, line).toBeLessThanOrEqual(80);
      expect(line, line).not.toMatch(/[{]"/);
    }
  });

  it('has a section per part, with units and relative times', () => {
    const text = formatStatus(fixture('status.json'));
    for (const section of ['device', 'outputs', 'services', 'network', 'cloud', 'alarm and media', 'ptz', 'storage', 'capture', 'detection', 'health', 'faults']) {
      expect(text).toMatch(new RegExp(`^${section}$`, 'm'));
    }
    expect(text).toMatch(/^camd on sim \(sim\) — running, boot #1, up \d+ (s|min)/);
    expect(text).toMatch(/^LED\s+red slow\s+= network-exception$/m);
    expect(text).toMatch(/^ {2}space\s+84\.1 GB free of 271 GB \(31\.1 % free, keeps 10 %\)$/m);
    expect(text).toMatch(/^ {2}cpu\s+11\.1 % \(load 0\.3, 2 cores\)$/m);
    expect(text).toMatch(/^ {2}memory\s+\d+ MB of 25277 MB \(2\.7 %\)$/m);
    expect(text).toMatch(/^ {2}retry\s+attempt 7, next in \d+ s$/m);
    expect(text).toMatch(/ {2}indicator {7}running\b/);
    expect(text).toMatch(/^ {2}resetButton\s+released$/m);
    expect(text).toMatch(/^ {2}cloud\.unreachable\s+\(network\) cloud broker/m);
  });

  it('a part it does not know still shows as wrapped key=value text', () => {
    const text = formatStatus({ ...fixture('status.json'), gadget: { mode: 'on', detail: { a: 1, b: 'x'.repeat(100) } } });
    expect(text).toMatch(/^other$/m);
    expect(text).toMatch(/^ {2}gadget\s+mode=on detail=\{a=1\n {16}b=x+$/m);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('camctl led: colour, pattern, why, and the conditions that hold', () => {
    const text = formatLed(fixture('led.json'));
    expect(text.split('\n')[0]).toBe('LED           red slow  = network-exception');
    expect(text).toMatch(/^conditions that hold$/m);
    expect(text).toMatch(/^ {2}network-exception \*\s+eth0 is up/m);
    expect(text).toMatch(/^ {2}working\s+running \(network exception\)$/m);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });
});
