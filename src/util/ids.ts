/** Request ids: short, sortable by time, unique across instances. */
import { randomBytes } from 'node:crypto';
import type { IdGenerator } from './clock.js';

/** `req_` + base36 time + 12 random hex characters. */
export const randomRequestId: IdGenerator = () => `req_${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
