// Part of `npm run build`: copies the dashboard's static files (HTML, script, style sheet) next to
// the compiled module that serves them, so the published package carries them in dist/.
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
cpSync(join(root, 'src/server/dashboard/assets'), join(root, 'dist/server/dashboard/assets'), { recursive: true });
