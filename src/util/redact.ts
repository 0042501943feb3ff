/** Secret redaction for anything that may reach a log line or an error message. */

const SECRET_PATTERNS: RegExp[] = [
  /\b(sk|pk|rk)-[A-Za-z0-9_-]{8,}/g, // OpenAI / Anthropic style keys (sk-..., sk-ant-...)
  /\bl04_[A-Za-z0-9_-]{8,}/g, // gateway API keys
  /\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /([?&](?:key|api_key|apikey|token|access_token)=)[^&\s"']+/gi,
];

/** Replaces anything that looks like a credential with `[REDACTED]`. */
export function redactSecrets(text: string): string {
  let out = text;
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (_match: string, group1: unknown) => {
      // Patterns without a capture group pass the match offset (a number) here.
      if (typeof group1 === 'string' && (group1.startsWith('?') || group1.startsWith('&'))) return `${group1}[REDACTED]`;
      if (typeof group1 === 'string' && group1.toLowerCase() === 'bearer') return 'Bearer [REDACTED]';
      return '[REDACTED]';
    });
  }
  return out;
}
