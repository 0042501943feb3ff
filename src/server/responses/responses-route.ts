import type { RouteContext } from '../route-context.js';
export async function handleResponses(_context: RouteContext): Promise<void> {}
