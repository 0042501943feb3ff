/** Prints the README's error-code table from the catalogue: `npx tsx scripts/error-table.ts`. */
import { ERROR_CODES } from '../src/models/error-codes.js';

const rows = Object.entries(ERROR_CODES).map(
  ([code, spec]) => `| ${code} | ${spec.type} | ${spec.httpStatus} | ${spec.retryable ? 'yes' : 'no'} | ${spec.message} |`,
);
process.stdout.write(['| code | type | HTTP | retryable | meaning |', '|---|---|---|---|---|', ...rows].join('\n') + '\n');
