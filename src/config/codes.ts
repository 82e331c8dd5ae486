// The catalogue of parse and validation diagnostics (OR1xxx): stable codes, one line each on what
// went wrong and how to fix it. `outrigger analyze --list` prints it; docs/diagnostics.md explains it.
import type { Severity } from './diagnostic.ts';

export interface CodeInfo {
  code: string;
  name: string;
  severity: Severity;
  description: string;
  fix: string;
}

function entry(code: string, name: string, severity: Severity, description: string, fix: string): CodeInfo {
  return { code, name, severity, description, fix };
}

/** Every OR1xxx code, in code order. Codes are never reused once published. */
export const configCatalogue: readonly CodeInfo[] = [
  entry('OR1001', 'YamlSyntaxError', 'error', 'The text is not valid YAML.', 'Fix the YAML syntax at the marked place.'),
  entry('OR1002', 'DuplicateKey', 'error', 'A mapping has the same key twice.', 'Remove or merge the repeated key.'),
  entry('OR1003', 'TabIndentation', 'error', 'A tab is used for indentation; YAML allows spaces only.', 'Indent with spaces.'),
  entry('OR1004', 'InputTooLarge', 'error', 'A file is larger than the 16 MiB limit.', 'Split the file or remove unrelated content.'),
  entry('OR1005', 'NotText', 'error', 'A file holds binary bytes or invalid UTF-8.', 'Save the file as UTF-8 text.'),
  entry('OR1006', 'ResourceExhaustion', 'error', 'Aliases expand too much or nesting is too deep.', 'Write the repeated content out; flatten the structure.'),
  entry('OR1007', 'UnreadablePath', 'error', 'A file or directory could not be read.', 'Check the path and its permissions.'),
  entry('OR1008', 'NotAnObject', 'error', 'A YAML document is not a mapping with apiVersion and kind.', 'Each document must be one Kubernetes-style object.'),
  entry('OR1010', 'MissingTypeInfo', 'error', 'A document lacks apiVersion or kind.', 'Add `apiVersion:` and `kind:` at the top of the document.'),
  entry('OR1011', 'UnknownKind', 'error', 'The kind is not one Outrigger knows.', 'Check the spelling of `kind`; see docs/configuration.md for the kinds.'),
  entry('OR1012', 'UnknownApiVersion', 'error', 'The kind exists but not in this API version.', 'Use one of the API versions listed in the message.'),
  entry('OR1013', 'InvalidName', 'error', 'metadata.name or metadata.namespace is missing or not a DNS-1123 name.', 'Use lower-case letters, digits and `-` (and `.` in names), starting and ending alphanumeric.'),
  entry('OR1014', 'DuplicateResource', 'warning', 'Two documents define the same kind, namespace and name; the later one wins.', 'Remove or rename one of them.'),
  entry('OR1020', 'UnknownField', 'error', 'A field is not part of the schema (Istio rejects unknown fields).', 'Remove the field or fix its spelling.'),
  entry('OR1021', 'WrongType', 'error', 'A field has the wrong type (e.g. a string where a number is expected).', 'Give the field a value of the expected type; quote strings such as `yes` or `on`.'),
  entry('OR1022', 'MissingField', 'error', 'A required field is missing.', 'Add the field.'),
  entry('OR1023', 'InvalidEnum', 'error', 'A field holds a value outside its set of allowed values.', 'Use one of the values listed in the message.'),
  entry('OR1024', 'InvalidValue', 'error', 'A field value breaks a rule of the Istio or Kubernetes API.', 'Change the value as the message says.'),
  entry('OR1025', 'InvalidDuration', 'error', 'A duration is not valid or is shorter than 1ms.', 'Write durations like `500ms`, `2s`, `1m30s`.'),
  entry('OR1026', 'InvalidRegex', 'error', 'A regular expression is not valid RE2 or exceeds the program size limit.', 'Use RE2 syntax (no look-around or back-references) and keep it small.'),
  entry('OR1027', 'InvalidHeaderName', 'error', 'A header name is not a lower-case HTTP token.', 'Write header names in lower case, with token characters only.'),
  entry('OR1028', 'PortOutOfRange', 'error', 'A port number is outside 1..65535.', 'Use a port between 1 and 65535.'),
  entry('OR1029', 'ConflictingFields', 'error', 'Fields that exclude each other are set together, or none of a required set is.', 'Keep exactly one of the fields named in the message.'),
  entry('OR1030', 'InvalidWeights', 'error', 'Route destination weights are negative, over 100, or add up to 0.', 'Give weights between 0 and 100 that add up to 100.'),
  entry('OR1031', 'WeightsNotHundred', 'warning', 'Route destination weights do not add up to 100; Istio treats them as relative.', 'Make the weights add up to 100 so the split reads as percentages.'),
  entry('OR1032', 'InvalidBase64', 'error', 'A Secret `data` value is not valid base64.', 'Encode the value with base64, or move it to `stringData`.'),
  entry('OR1033', 'DeprecatedField', 'info', 'A field is deprecated in Istio; it still works.', 'Use the replacement named in the message.'),
  entry('OR1040', 'UnsupportedEnvoyFilter', 'warning', 'EnvoyFilter patches Envoy internals; Outrigger does not apply it.', 'Express the behaviour with VirtualService, DestinationRule or Telemetry where possible.'),
  entry('OR1041', 'NotRunLocally', 'info', 'A resource of another system (Jaeger, ServiceMonitor, Kiali, ...) is recognised but not run locally.', 'Nothing to do; Outrigger provides the equivalent (tracing export, metrics, dashboard) itself.'),
  entry('OR1042', 'InvalidHeaderValue', 'error', 'A header value to set or add holds NUL, CR or LF, which no HTTP header may carry.', 'Write the value on one line, without control characters.'),
  entry('OR1043', 'UnimplementedKind', 'warning', 'A Kubernetes or Istio kind Outrigger recognises but does not implement (StatefulSet, NetworkPolicy, Ingress, WasmPlugin, UDPRoute of the Gateway API): locally it has no effect.', 'Use what the message names instead, or leave it: the rest of the mesh runs.'),
  entry('OR1044', 'NoLocalMeaning', 'info', 'A Kubernetes kind that acts on a cluster (HorizontalPodAutoscaler, PodDisruptionBudget, RBAC, CustomResourceDefinition, ...) is recognised and not run.', 'Nothing to do.'),
  entry('OR1045', 'UnsupportedField', 'warning', 'A field Outrigger accepts but does not apply (a Sidecar listener bound to its own address or port, a unix socket endpoint, a Gateway server of TLS mode AUTO_PASSTHROUGH); the rest of the resource applies.', 'Remove the field, or expect the behaviour the message describes.'),
];

const byCode = new Map(configCatalogue.map((c) => [c.code, c]));

/** The catalogue entry of a code; throws on an unknown code (a programming error, not bad input). */
export function codeInfo(code: string): CodeInfo {
  const info = byCode.get(code);
  if (!info) throw Object.assign(new Error(`unknown diagnostic code ${code}`), { code: 'ERR_UNKNOWN_DIAGNOSTIC_CODE' });
  return info;
}
