// BackendTLSPolicy → DestinationRule TLS settings, as Istio converts it (BackendTLSPolicyCollection):
// connections to the target Service (or one port of it, by name) are TLS, mode SIMPLE, with the
// policy's hostname as SNI, its subjectAltNames, and its CA: a ConfigMap's `ca.crt` (credentialName
// `configmap://NAMESPACE/NAME`, public like any CA) or, for `System`, the platform's trusted roots.
import type { AnyResource, BackendTLSPolicy, DestinationRule, Service } from '../../config/resource.ts';
import type { ClientTLSSettings, PortTrafficPolicy } from '../../config/types/networking.ts';
import { serviceFqdn } from '../host.ts';
import { GENERATED_SUFFIX, PARENTS_ANNOTATION } from './gateways.ts';
import { byAge } from './references.ts';

/** The credentialName prefix of a CA read from a ConfigMap (Istio's credentials.KubernetesConfigMapTypeURI). */
export const CONFIGMAP_CREDENTIAL_PREFIX = 'configmap://';

/** The client TLS settings a policy asks for. */
export function policyTls(policy: BackendTLSPolicy): ClientTLSSettings {
  const v = policy.spec.validation;
  const sans = (v.subjectAltNames ?? []).flatMap((s) => (s.type === 'Hostname' ? (s.hostname ? [s.hostname] : []) : s.uri ? [s.uri] : []));
  // Istio uses the first CA reference; only ConfigMaps are CAs (a Secret's is not followed, as in Istio).
  const ca = v.caCertificateRefs?.[0];
  const credential = ca ? `${CONFIGMAP_CREDENTIAL_PREFIX}${policy.metadata.namespace}/${ca.name}` : undefined;
  return { mode: 'SIMPLE', sni: v.hostname, ...(sans.length ? { subjectAltNames: sans } : {}), ...(credential ? { credentialName: credential } : {}) };
}

/** One DestinationRule per target Service: the oldest policy wins a Service, or a port of it. */
export function buildBackendTlsRules(resources: readonly AnyResource[]): DestinationRule[] {
  const policies = resources.filter((r): r is BackendTLSPolicy => r.kind === 'BackendTLSPolicy').sort(byAge);
  if (policies.length === 0) return [];
  const services = new Map<string, Service>();
  for (const r of resources) if (r.kind === 'Service') services.set(`${r.metadata.namespace}/${r.metadata.name}`, r as Service);
  interface Rule {
    service: Service;
    whole?: ClientTLSSettings;
    ports: Map<number, ClientTLSSettings>;
    parents: Set<string>;
  }
  const rules = new Map<string, Rule>();
  for (const policy of policies) {
    for (const target of policy.spec.targetRefs) {
      if (target.group !== '' || target.kind !== 'Service') continue;
      const service = services.get(`${policy.metadata.namespace}/${target.name}`);
      if (!service) continue;
      const port = target.sectionName === undefined ? undefined : service.spec.ports?.find((p) => p.name === target.sectionName)?.port;
      if (target.sectionName !== undefined && port === undefined) continue;
      const key = `${service.metadata.namespace}/${service.metadata.name}`;
      const rule: Rule = rules.get(key) ?? { service, ports: new Map(), parents: new Set<string>() };
      rules.set(key, rule);
      if (port === undefined) rule.whole ??= policyTls(policy);
      else if (!rule.ports.has(port)) rule.ports.set(port, policyTls(policy));
      rule.parents.add(`BackendTLSPolicy.gateway.networking.k8s.io/${policy.metadata.namespace}/${policy.metadata.name}`);
    }
  }
  return [...rules.values()].map(({ service, whole, ports, parents }) => {
    const portLevel: PortTrafficPolicy[] = [...ports].map(([number, tls]) => ({ port: { number }, tls }));
    return {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: `${service.metadata.name}-backend-tls-${GENERATED_SUFFIX}`, namespace: service.metadata.namespace, labels: {}, annotations: { [PARENTS_ANNOTATION]: [...parents].join(',') } },
      spec: {
        host: serviceFqdn(service.metadata.name, service.metadata.namespace),
        trafficPolicy: { ...(whole ? { tls: whole } : {}), ...(portLevel.length ? { portLevelSettings: portLevel } : {}) },
      },
    };
  });
}

/** Why a target names nothing the policy applies to, or undefined when it names a Service (port). */
export function targetProblem(policy: BackendTLSPolicy, index: number, service: (namespace: string, name: string) => Service | undefined): { missing: boolean; message: string } | undefined {
  const t = policy.spec.targetRefs[index];
  if (!t) return undefined;
  if (t.group !== '' || t.kind !== 'Service') return { missing: false, message: `targetRef ${t.kind}${t.group ? `.${t.group}` : ''} ${t.name}: a BackendTLSPolicy applies to Services` };
  const svc = service(policy.metadata.namespace, t.name);
  if (!svc) return { missing: true, message: `targetRef Service ${policy.metadata.namespace}/${t.name} does not exist` };
  if (t.sectionName !== undefined && !svc.spec.ports?.some((p) => p.name === t.sectionName)) return { missing: true, message: `targetRef Service ${policy.metadata.namespace}/${t.name} has no port named "${t.sectionName}"` };
  return undefined;
}
