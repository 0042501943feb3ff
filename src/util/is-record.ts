/** Whether `value` is an object that is not an array (a JSON object, once parsed): its fields can be read by name. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
