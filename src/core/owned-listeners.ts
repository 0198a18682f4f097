/**
 * A listener set that remembers who registered each listener, so the supervisor can drop all of a
 * service's listeners when it stops (the same contract as the bus and the command table): a
 * service that forgets an unsubscribe can no longer leak a callback into a stopped instance.
 */
export class OwnedListeners<L> {
  private readonly entries = new Map<L, object | undefined>();

  /** Adds `listener` for `owner` (undefined: released only by the returned function). */
  add(owner: object | undefined, listener: L): () => void {
    this.entries.set(listener, owner);
    return () => {
      this.entries.delete(listener);
    };
  }

  removeOwner(owner: object): void {
    for (const [l, o] of this.entries) if (o === owner) this.entries.delete(l);
  }

  /** A snapshot: a listener that unsubscribes others while being called does not skip anyone. */
  snapshot(): L[] {
    return [...this.entries.keys()];
  }

  get size(): number {
    return this.entries.size;
  }
}
