// The error every xDS codec throws for a resource that is not valid Envoy config.
export class XdsCodecError extends Error {
  readonly code = 'XDS_CODEC';
}
