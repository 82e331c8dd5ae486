// Errors of the certificate authority and of certificate checks, each with a stable code.

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
