// Response shapes for holding a fake to the real server: the same request goes to both, and every
// field the fake answers must exist in the real answer with the same JSON type (the fake may leave
// fields out; it may not invent or mistype them).

export type Shape = string | Shape[] | { [key: string]: Shape };

/** JSON type skeleton: "string", "number", "boolean", "null", [item shape] or { key: shape }. */
export function shapeOf(value: unknown): Shape {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? [] : [shapeOf(value[0])];
  if (typeof value === 'object') return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, shapeOf(v)]));
  return typeof value;
}

/** Paths where `fake` is not a sub-shape of `real` (empty = the fake conforms). */
export function shapeMismatches(fake: Shape, real: Shape, path = '$'): string[] {
  if (typeof fake === 'string' || typeof real === 'string') {
    return fake === real ? [] : [`${path}: fake ${JSON.stringify(fake)} vs real ${JSON.stringify(real)}`];
  }
  if (Array.isArray(fake) || Array.isArray(real)) {
    if (!Array.isArray(fake) || !Array.isArray(real)) return [`${path}: fake ${JSON.stringify(fake)} vs real ${JSON.stringify(real)}`];
    // An empty list on either side says nothing about the items.
    if (fake.length === 0 || real.length === 0) return [];
    return shapeMismatches(fake[0]!, real[0]!, `${path}[0]`);
  }
  const out: string[] = [];
  for (const [key, sub] of Object.entries(fake)) {
    if (!(key in real)) out.push(`${path}.${key}: only in the fake`);
    else out.push(...shapeMismatches(sub, real[key]!, `${path}.${key}`));
  }
  return out;
}
