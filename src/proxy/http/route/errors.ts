// The error a RouteConfiguration compile throws: the proxy NACKs with its message, which names the
// field path inside the resource (`virtual_hosts[0].routes[2].match.safe_regex.regex`).

export class RouteConfigError extends Error {
  readonly code = 'ROUTE_CONFIG';
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options);
    this.path = path;
  }
}
