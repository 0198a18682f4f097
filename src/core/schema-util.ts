import type { z } from 'zod';
import { describeIssue } from '../../board/zod-issue.js';
import { CamdError } from './errors.js';

export { describeIssue };

/** Parse or throw a CamdError('invalid_args') naming the first offending path. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.output<S> {
  const res = schema.safeParse(value);
  if (res.success) return res.data;
  const first = describeIssue(res.error.issues[0]!);
  const path = [prefix, first.path].filter(Boolean).join('.');
  const more = res.error.issues.length > 1 ? ` (and ${res.error.issues.length - 1} more)` : '';
  throw new CamdError('invalid_args', `${path || '(root)'}: ${first.message}${more}`, path);
}
