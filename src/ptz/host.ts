import type { Logger } from 'pino';
import type { Context } from '../supervisor/service.js';
import type { MotorController } from './controller.js';
import type { HeadMotor } from './head.js';
import type { PtzMode, PtzState } from './types.js';

export type MotorKey = 'head' | 'wide';

/**
 * What the command table and its actions need of the PTZ service. An interface of its own so
 * actions.ts and commands.ts do not import service.ts, which builds them (no import cycle).
 */
export interface PtzHost {
  /** The owner of the registered commands. */
  readonly name: string;
  readonly ctx: Context;
  readonly log: Logger;
  readonly mode: PtzMode;
  /** The controller for a command, or the reason (`unavailable`, `busy` while homing) it cannot take one. */
  ready(key: MotorKey): MotorController;
  /** Runs a command on a motor; a hardware failure marks it unavailable and answers `unavailable`/`failed`. */
  use<T>(key: MotorKey, fn: (c: MotorController) => Promise<T>): Promise<T>;
  /** Runs a manual motion under a `manual` lease of the head arbiter (head.ts). */
  manual<T>(why: string, fn: (m: HeadMotor) => Promise<T>): Promise<T>;
  widePanAt(t: number): number;
  evaluate(): void;
  /** Follow-target acts now: patrol on and follow chosen (it is part of auto patrol). */
  followOn(): boolean;
  /** Ends the manual hold now (switching patrol on is itself a manual choice). */
  releaseManual(): void;
  publish(): void;
  snapshot(): PtzState;
}
