import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';

type Step = { owner: object; name: string; run: () => Promise<void> };

/**
 * What a factory reset must erase is spread over services (config, secrets, the cloud outbox,
 * the card's ownership marker). Each registers a step; the reset runs them all, in order, and
 * reports the ones that failed instead of stopping halfway.
 */
export class FactoryReset {
  private readonly steps: Step[] = [];

  constructor(private readonly log: Logger) {}

  register(owner: object, name: string, run: () => Promise<void>): void {
    this.steps.push({ owner, name, run });
  }

  removeOwner(owner: object): void {
    for (let i = this.steps.length - 1; i >= 0; i--) if (this.steps[i]!.owner === owner) this.steps.splice(i, 1);
  }

  async run(reason: string): Promise<{ done: string[]; failed: { step: string; error: string }[] }> {
    this.log.warn({ reason, steps: this.steps.map((s) => s.name) }, 'factory reset');
    const done: string[] = [];
    const failed: { step: string; error: string }[] = [];
    for (const step of [...this.steps]) {
      try {
        await step.run();
        done.push(step.name);
      } catch (err) {
        failed.push({ step: step.name, error: errorMessage(err) });
        this.log.error({ step: step.name, err: errorMessage(err) }, 'factory reset step failed');
      }
    }
    return { done, failed };
  }
}
