import { describe, expect, it } from 'vitest';
import { OwnedListeners } from '../../../src/core/owned-listeners.js';
import { StateStore, initialState } from '../../../src/state/store.js';

describe('OwnedListeners', () => {
  it('removeOwner drops exactly that owner’s listeners; the returned function drops one', () => {
    const set = new OwnedListeners<() => string>();
    const a = {};
    const b = {};
    set.add(a, () => 'a1');
    const offA2 = set.add(a, () => 'a2');
    set.add(b, () => 'b1');
    set.add(undefined, () => 'free');
    offA2();
    expect(set.snapshot().map((f) => f())).toEqual(['a1', 'b1', 'free']);
    set.removeOwner(a);
    expect(set.snapshot().map((f) => f())).toEqual(['b1', 'free']);
    set.removeOwner(b);
    expect(set.size).toBe(1);
  });
});

describe('StateStore.subscribe(owner, …)', () => {
  it('a stopped owner hears nothing more; others still do', () => {
    const store = new StateStore(initialState(1, 'test', 0));
    const owner = {};
    const heard: string[] = [];
    store.subscribe(owner, (_s, changed) => heard.push(`owner:${[...changed].join()}`));
    store.subscribe((_s, changed) => heard.push(`other:${[...changed].join()}`));
    store.set('sleeping', true);
    store.removeOwner(owner);
    store.set('sleeping', false);
    expect(heard).toEqual(['owner:sleeping', 'other:sleeping', 'other:sleeping']);
  });
});
