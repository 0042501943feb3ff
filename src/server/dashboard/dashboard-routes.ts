/**
 * The operator dashboard: `GET /dashboard` (the page), its script and style sheet, and
 * `GET /dashboard/api/snapshot` (the JSON the page polls).
 *
 * The page and its assets hold no data and are served to anyone; the snapshot needs an admin API
 * key (`Authorization: Bearer …`), or, with no keys configured, a loopback caller (the route is
 * marked admin in the route table, which enforces that). The assets are read once from
 * `./assets/` beside this module (copied into `dist` by `npm run build`) and kept in memory.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GatewayError, ValidationError } from '../../models/error-codes.js';
import { sendJson } from '../http-io.js';
import type { RouteContext } from '../route-context.js';

interface Asset {
  body: Buffer;
  etag: string;
}

const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
} as const;
type AssetName = keyof typeof ASSETS;

const ASSET_DIR = new URL('./assets/', import.meta.url);
const loaded = new Map<AssetName, Promise<Asset>>();

// The page runs only its own script and style and talks only to its own origin.
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** `GET /dashboard`: the page. */
export async function handleDashboardPage(context: RouteContext): Promise<void> {
  await sendAsset(context, 'index.html');
}

/** `GET /dashboard/dashboard.js`. */
export async function handleDashboardScript(context: RouteContext): Promise<void> {
  await sendAsset(context, 'dashboard.js');
}

/** `GET /dashboard/dashboard.css`. */
export async function handleDashboardStyle(context: RouteContext): Promise<void> {
  await sendAsset(context, 'dashboard.css');
}

/** `GET /dashboard/api/snapshot`: the dashboard's figures (`DashboardSnapshot`); admin callers only (E4508). */
export async function handleDashboardSnapshot(context: RouteContext): Promise<void> {
  if (!context.caller.admin) throw new ValidationError('E4508', 'The dashboard needs an admin API key');
  sendJson(context.response, 200, await context.gateway.dashboard(), { 'cache-control': 'no-store' });
}

async function sendAsset(context: RouteContext, name: AssetName): Promise<void> {
  const asset = await loadAsset(name);
  const headers = { ...PAGE_HEADERS, etag: asset.etag, 'cache-control': 'no-cache' };
  if (context.request.headers['if-none-match'] === asset.etag) {
    context.response.writeHead(304, headers);
    context.response.end();
    return;
  }
  context.response.writeHead(200, { ...headers, 'content-type': ASSETS[name], 'content-length': asset.body.length });
  context.response.end(asset.body);
}

function loadAsset(name: AssetName): Promise<Asset> {
  let asset = loaded.get(name);
  if (asset === undefined) {
    asset = readFile(new URL(name, ASSET_DIR)).then(
      (body) => ({ body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }),
      (error: unknown) => {
        loaded.delete(name); // a later request tries again
        throw new GatewayError('E4900', `Dashboard asset ${name} is missing; was the package built with npm run build?`, { cause: error });
      },
    );
    loaded.set(name, asset);
  }
  return asset;
}
