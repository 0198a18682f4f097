import type { SerialLink } from './types.js';

/**
 * A view of a link whose writes wait their turn instead of being refused as overlapping. For
 * several writers on one end of a bus (the two receiver twins on the sim RS-485 line); the
 * daemon's own side serialises whole request/reply exchanges in PelcoDBus instead.
 */
export function queuedWrites(link: SerialLink): SerialLink {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    name: link.name,
    write(bytes) {
      const run = tail.then(() => link.write(bytes));
      tail = run.catch(() => undefined);
      return run;
    },
    onData: (listener) => link.onData(listener),
    close: () => link.close(),
  };
}
