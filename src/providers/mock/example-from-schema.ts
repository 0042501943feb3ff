/**
 * A deterministic JSON value that satisfies a JSON schema, so that the mock provider honours a
 * requested `json_schema` response format. Covers what structured-output callers send: objects
 * with `properties` (every property filled, required or not), arrays (`minItems`, at least one
 * item), strings (`enum`, `const`, `format` date/date-time/email/uri/uuid, `minLength`), numbers and
 * integers (`minimum`, `exclusiveMinimum`, `maximum`, `multipleOf`), booleans, null, `anyOf` /
 * `oneOf` (first branch), `allOf` (merged objects) and local `$ref`s (`#/$defs/…`, `#/definitions/…`).
 * `text` seeds string values so that answers differ by prompt.
 */
import { isRecord } from '../../util/is-record.js';

/** Deepest nesting followed, and the longest array built. */
const MAX_DEPTH = 16;
const MAX_ITEMS = 8;

/** A value valid against `schema` (`root` resolves `$ref`s). */
export function exampleFromSchema(schema: unknown, text: string, root: unknown = schema, depth = 0): unknown {
  if (!isRecord(schema) || depth > MAX_DEPTH) return null;
  if (typeof schema.$ref === 'string') return exampleFromSchema(resolveRef(schema.$ref, root), text, root, depth + 1);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.length > 0) {
      const branch = branches.find((candidate) => !(isRecord(candidate) && candidate.type === 'null')) ?? branches[0];
      return exampleFromSchema(branch, text, root, depth + 1);
    }
  }
  if (Array.isArray(schema.allOf)) {
    const merged: Record<string, unknown> = {};
    for (const part of schema.allOf) Object.assign(merged, asRecord(exampleFromSchema(part, text, root, depth + 1)));
    return merged;
  }
  const type = Array.isArray(schema.type) ? (schema.type.find((candidate) => candidate !== 'null') ?? schema.type[0]) : schema.type;
  switch (type ?? (isRecord(schema.properties) ? 'object' : undefined)) {
    case 'object': {
      const value: Record<string, unknown> = {};
      for (const [name, property] of Object.entries(asRecord(schema.properties)))
        value[name] = exampleFromSchema(property, `${text} ${name}`.trim(), root, depth + 1);
      return value;
    }
    case 'array': {
      const count = Math.min(MAX_ITEMS, Math.max(1, typeof schema.minItems === 'number' ? schema.minItems : 1));
      return Array.from({ length: count }, (_, index) => exampleFromSchema(schema.items, `${text} ${index + 1}`, root, depth + 1));
    }
    case 'string':
      return exampleString(schema, text);
    case 'integer':
    case 'number':
      return exampleNumber(schema, type === 'integer');
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return text;
  }
}

function exampleString(schema: Record<string, unknown>, text: string): string {
  switch (schema.format) {
    case 'date':
      return '2025-01-01';
    case 'date-time':
      return '2025-01-01T00:00:00Z';
    case 'email':
      return 'mock@example.com';
    case 'uri':
    case 'url':
      return 'https://example.com/mock';
    case 'uuid':
      return '00000000-0000-4000-8000-000000000000';
    default:
      break;
  }
  let value = text === '' ? 'mock' : text;
  if (typeof schema.minLength === 'number' && value.length < schema.minLength) value = value.padEnd(schema.minLength, '.');
  if (typeof schema.maxLength === 'number') value = value.slice(0, schema.maxLength);
  return value;
}

function exampleNumber(schema: Record<string, unknown>, integer: boolean): number {
  let value = typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : 1;
  if (typeof schema.maximum === 'number' && value > schema.maximum) value = schema.maximum;
  if (typeof schema.multipleOf === 'number' && schema.multipleOf > 0) value = Math.ceil(value / schema.multipleOf) * schema.multipleOf;
  return integer ? Math.ceil(value) : value;
}

function resolveRef(reference: string, root: unknown): unknown {
  if (!reference.startsWith('#/')) return undefined;
  let node: unknown = root;
  for (const segment of reference.slice(2).split('/')) node = isRecord(node) ? node[segment.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  return node;
}

function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
