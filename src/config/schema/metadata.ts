// Kubernetes ObjectMeta: name and namespace must be DNS-1123 names; labels and annotations are strings.
import * as z from 'zod';
import { issueCode, obj, str, strMap } from './common.ts';

const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why `name` is not a DNS-1123 label (`labelOnly`) or subdomain, or undefined. */
export function dnsNameProblem(name: string, labelOnly: boolean): string | undefined {
  const max = labelOnly ? 63 : 253;
  if (name.length === 0) return 'must not be empty';
  if (name.length > max) return `"${name}" is longer than ${max} characters`;
  if (!(labelOnly ? label : subdomain).test(name)) {
    return `"${name}" is not a DNS-1123 ${labelOnly ? 'label' : 'subdomain'}: use lower-case letters, digits and '-'${labelOnly ? '' : " and '.'"}, starting and ending with a letter or digit`;
  }
  return undefined;
}

/** A field that names a Kubernetes object (a service account): a DNS-1123 label or subdomain. */
export function dnsName(labelOnly: boolean) {
  return z.string().superRefine((name, ctx) => {
    const problem = dnsNameProblem(name, labelOnly);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, ...issueCode('OR1013') });
  });
}

const any = z.unknown().optional();

/** `labelOnly` for kinds whose names become DNS labels (Namespace, Service). */
export function objectMeta(labelOnly: boolean) {
  return obj({
    name: dnsName(labelOnly),
    namespace: dnsName(true).optional(),
    labels: strMap.optional(),
    annotations: strMap.optional(),
    generateName: str.optional(),
    resourceVersion: str.optional(),
    ...Object.fromEntries(
      ['uid', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'ownerReferences', 'finalizers', 'managedFields', 'selfLink'].map((k) => [k, any]),
    ),
  });
}
