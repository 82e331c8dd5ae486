// Errors of the certificate authority and of certificate checks, each with a stable code.
import { type Diagnostic, headline } from '../config/diagnostic.ts';

export type CaErrorCode =
  | 'CA_BAD_CSR'
  | 'CA_IDENTITY_MISMATCH'
  | 'CA_BAD_KEY'
  | 'CA_LOAD_FAILED'
  | 'CA_BAD_TTL'
  | 'CA_BAD_TRUST_DOMAIN'
  | 'SVID_INVALID'
  | 'SVID_SAN_MISMATCH';

export class CaError extends Error {
  readonly code: CaErrorCode;
  constructor(code: CaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'CaError';
  }
}

/** The CA's settings in the mesh config are wrong: every problem, each a diagnostic with its place. */
export class CaConfigError extends Error {
  readonly code = 'CA_BAD_CONFIG';
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    const lines = diagnostics.map((d) => `  ${headline(d)}`);
    super(`the certificate authority's settings in the mesh config are invalid:\n${lines.join('\n')}`);
    this.diagnostics = diagnostics;
    this.name = 'CaConfigError';
  }
}
