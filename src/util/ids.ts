/** Request ids: short, sortable by time, unique across instances, cheap on the hot path. */
import { randomBytes } from 'node:crypto';
import type { IdGenerator } from './clock.js';

// 48 random bits per process tell instances apart; a counter tells this process's requests apart.
const PROCESS_TAG = randomBytes(6).toString('hex');
let sequence = 0;

/** `req_` + base36 time + a per-process random tag + a base36 sequence number. */
export const randomRequestId: IdGenerator = () => {
  sequence = (sequence + 1) % 0x7fffffff;
  return `req_${Date.now().toString(36)}${PROCESS_TAG}${sequence.toString(36)}`;
};
