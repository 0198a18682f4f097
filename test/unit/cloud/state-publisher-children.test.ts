import { describe, expect, it } from 'vitest';
import { PublishedStateSchema, TelemetrySchema } from '../../../src/cloud/schema.js';
import { buildDocuments } from '../../../src/cloud/state-publisher.js';
import { initialState, type CamState, type ChildHealth } from '../../../src/state/store.js';

const T = 1_760_000_000_000;
const info = { serial: 'CAM1', model: 'm', board: 'b' };
const capture: ChildHealth = { name: 'capture.wide', kind: 'supervised', status: 'running', pid: 101, since: T - 5000, restarts: 1 };
const nmcli: ChildHealth = { name: 'nmcli', kind: 'once', status: 'running', pid: 202, since: T - 20, restarts: 0 };
const store = (children: CamState['children']): CamState => ({ ...initialState(3, 'boot-3', T - 60_000), children });

describe('children in the published documents', () => {
  it('a one-shot child leaves the retained state alone (an nmcli call every poll would republish it) and travels whole in telemetry', () => {
    const without = buildDocuments(store({ 'capture.wide': capture }), info, T);
    const withOnce = buildDocuments(store({ 'capture.wide': capture, 'nmcli#202': nmcli }), info, T);
    expect(withOnce.state).toEqual(without.state);
    expect(withOnce.state.children).toEqual({ 'capture.wide': { name: 'capture.wide', kind: 'supervised', status: 'running' } });
    expect(withOnce.telemetry.children).toEqual({ 'capture.wide': { pid: 101, since: T - 5000, restarts: 1 }, 'nmcli#202': nmcli });
    expect(without.telemetry.children).toEqual({ 'capture.wide': { pid: 101, since: T - 5000, restarts: 1 } });
    expect(PublishedStateSchema.parse(withOnce.state)).toBeTruthy();
    expect(TelemetrySchema.parse(withOnce.telemetry).children).toEqual(withOnce.telemetry.children);
    // Telemetry over state gives the store's entries back.
    const merged = { 'capture.wide': { ...(withOnce.state.children as Record<string, object>)['capture.wide'], ...(withOnce.telemetry.children as Record<string, object>)['capture.wide'] } };
    expect(merged['capture.wide']).toEqual(capture);
  });
});
