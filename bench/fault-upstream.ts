// The fault upstream of tests/helpers/fault-upstream.ts as a process, for benchmarks.
// usage: node --import tsx bench/fault-upstream.ts PORT
import { startFaultUpstream } from '../tests/helpers/fault-upstream.js';

const upstream = await startFaultUpstream(Number(process.argv[2] ?? 0));
process.stdout.write(`fault upstream on ${upstream.url}\n`);
