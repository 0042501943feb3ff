/** Assembles streamed reasoning fragments (`reasoning-delta` parts) into reasoning blocks. */
import type { ReasoningPart } from '../models/inference-request.js';

/** Collects fragments in order; a fragment after a signed or redacted block starts a new block. */
export class ReasoningAssembler {
  private readonly parts: ReasoningPart[] = [];
  private open: { type: 'reasoning'; text: string; signature?: string } | undefined;

  /** Adds one fragment: text and/or the closing signature, or a whole redacted block. */
  add(text: string, signature: string | undefined, redacted: string | undefined): void {
    if (redacted !== undefined) {
      this.open = undefined;
      this.parts.push({ type: 'redacted_reasoning', data: redacted });
      return;
    }
    if (this.open === undefined) {
      this.open = { type: 'reasoning', text: '' };
      this.parts.push(this.open);
    }
    this.open.text += text;
    if (signature !== undefined) {
      this.open.signature = (this.open.signature ?? '') + signature;
      this.open = undefined;
    }
  }

  /** The blocks, or `undefined` when none arrived. */
  result(): ReasoningPart[] | undefined {
    return this.parts.length === 0 ? undefined : this.parts.map((part) => ({ ...part }));
  }
}
