// The error a config compile step throws: its message becomes the NACK's error_detail, so it names the
// resource and the field.
export class ProxyConfigError extends Error {
  readonly code = 'PROXY_CONFIG';
  constructor(resource: string, field: string, problem: string) {
    super(`${resource}: ${field}: ${problem}`);
  }
}
