/** Assembles streamed tool-call fragments (`tool-call-delta` parts) into complete tool calls. */
import type { ToolCall } from '../models/inference-request.js';

/** Collects fragments by index; `result()` gives the calls in index order. */
export class ToolCallAssembler {
  private readonly calls = new Map<number, { id: string; name: string; arguments: string }>();

  /** Adds one fragment. `id` and `name` arrive on a call's first fragment. */
  add(index: number, id: string | undefined, name: string | undefined, argumentsDelta: string): void {
    const call = this.calls.get(index);
    if (call === undefined) {
      this.calls.set(index, { id: id ?? `call_${index}`, name: name ?? '', arguments: argumentsDelta });
      return;
    }
    if (id !== undefined && id !== '') call.id = id;
    if (name !== undefined && name !== '') call.name = name;
    call.arguments += argumentsDelta;
  }

  /** Whether any fragment arrived. */
  get empty(): boolean {
    return this.calls.size === 0;
  }

  /** The assembled calls, ordered by index. */
  result(): ToolCall[] {
    return [...this.calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => ({ ...call }));
  }
}
