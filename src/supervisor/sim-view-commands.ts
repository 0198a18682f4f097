import { promises as fs } from 'node:fs';
import { z } from 'zod';
import type { SimBoard } from '../../drivers/sim-board.js';
import type { TimelineEntry } from '../../drivers/timeline.js';
import { CamdError, errorMessage } from '../core/errors.js';
import type { CommandDef } from '../commands/registry.js';
import type { CamState, StateKey } from '../state/store.js';
import '../domain/episode.js';
import type { Context } from './service.js';

type Reg = <S extends z.ZodType>(def: CommandDef<S>) => void;

/** What one `sim.timeline.follow` stream line is. */
export type SimFollowItem =
  | { type: 'timeline'; entry: TimelineEntry }
  | { type: 'state'; changed: string[]; state: Partial<CamState> }
  | { type: 'track'; track: { lens: string; type: string; episodeId: string; box: { x: number; y: number; w: number; h: number }; score: number; ts: number } };

const FollowArgs = z
  .object({
    kinds: z.array(z.enum(['gpio', 'i2c', 'serial'])).min(1).max(3).default(['gpio']),
    /** State slices to send when they change; all of them when absent. */
    stateKeys: z.array(z.string().min(1).max(40)).max(40).optional(),
    tracks: z.boolean().default(true),
  })
  .strict();

/**
 * The sim board's streaming view for the sim-view page (src/simview): timeline entries as they
 * are recorded, state slices as they change, detection tracks. It costs nothing while nobody
 * follows: the timeline, the state store and the bus each call an empty listener set; every
 * listener is added per follower and removed when its connection closes.
 *
 * `sim.card` pulls the sim board's card out of the slot and puts it back: the sim card is a
 * directory (storage: present = the directory exists), so pulling it renames the directory to
 * `<card>.out` — the card, with what is on it, is outside the slot — and inserting renames it back
 * (a blank card when there was none).
 */
export function registerSimViewCommands(ctx: Context, sim: SimBoard, reg: Reg): void {
  reg({
    name: 'sim.timeline.follow',
    access: 'local',
    summary: '(sim board) stream timeline entries as they happen, state changes and detection tracks (control socket only)',
    args: FollowArgs,
    handler: ({ kinds, stateKeys, tracks }, meta) => {
      const stream = meta.stream;
      if (!stream) throw new CamdError('unavailable', 'sim.timeline.follow streams: only over the control socket');
      const wanted = new Set<string>(kinds);
      const keys = stateKeys ? new Set(stateKeys) : undefined;
      const emit = (item: SimFollowItem): void => stream.emit(item);
      const offs: (() => void)[] = [];
      offs.push(sim.timeline.onRecord((entry) => wanted.has(entry.kind) && emit({ type: 'timeline', entry })));
      offs.push(
        ctx.state.subscribe((state, changed) => {
          const picked = [...changed].filter((k) => !keys || keys.has(k));
          if (picked.length > 0) emit({ type: 'state', changed: picked, state: pick(state, picked) });
        }),
      );
      if (tracks) offs.push(ctx.bus.on({ name: 'sim.timeline.follow' }, 'detection.track', (track) => emit({ type: 'track', track })));
      stream.onClose(() => {
        for (const off of offs.splice(0)) off();
      });
      const state = ctx.state.get();
      return {
        following: 'sim',
        now: ctx.clock.now(),
        levels: gpioLevels(sim),
        outputs: ctx.hardware.outputs(),
        state: keys ? pick(state, [...keys] as StateKey[]) : state,
      };
    },
  });

  const CardArgs = z.object({ inserted: z.boolean() }).strict();
  reg({
    name: 'sim.card',
    access: 'local',
    summary: '(sim board) insert or pull out the microSD card (the card directory moves in or out of the slot)',
    args: CardArgs,
    handler: async ({ inserted }) => {
      const slot = ctx.paths.cardMount;
      const out = `${slot}.out`;
      const inSlot = await exists(slot);
      try {
        if (inserted && !inSlot) {
          if (await exists(out)) await fs.rename(out, slot);
          else await fs.mkdir(slot, { recursive: true });
        } else if (!inserted && inSlot) {
          if (await exists(out)) throw new CamdError('failed', `${out} is in the way: a card pulled out earlier is still there`);
          await fs.rename(slot, out);
        }
      } catch (err) {
        if (err instanceof CamdError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        throw new CamdError('unavailable', code === 'EBUSY' ? `${slot} is a mounted filesystem: unmount it to pull the card` : `cannot move the card: ${errorMessage(err)}`);
      }
      return { inserted, dir: slot };
    },
  });
}

function pick(state: Readonly<CamState>, keys: readonly string[]): Partial<CamState> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (k in state) out[k] = state[k as StateKey];
  return out;
}

/** The last logical level of every GPIO line on the timeline: the page's starting picture. */
function gpioLevels(sim: SimBoard): Record<string, 0 | 1> {
  const levels: Record<string, 0 | 1> = {};
  for (const e of sim.timeline.entries({ kind: 'gpio' })) if (e.kind === 'gpio') levels[e.name] = e.value;
  return levels;
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch {
    return false;
  }
}
