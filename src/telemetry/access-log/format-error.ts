// The error a format Envoy would reject raises when it is compiled (the proxy NACKs the listener).

export class AccessLogFormatError extends Error {
  readonly code = 'ACCESS_LOG_FORMAT';
}
