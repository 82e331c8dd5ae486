// Resolves the workload a person names on the command line: `podinfo-stable-0`, `podinfo/podinfo-stable-0`,
// `deploy/podinfo-stable`, `podinfo-stable` (its first replica) or `podinfo-stable-0.podinfo` (istioctl's
// pod.namespace), optionally with `-n NAMESPACE`.
import type { ComponentState, MeshState } from './state.ts';

export class ComponentNotFoundError extends Error {
  readonly code = 'COMPONENT_NOT_FOUND';
}

/** The namespace and name `ref` gives (a kind prefix dropped; `ns/name` overrides `-n`). */
export function parseComponentRef(ref: string, namespace?: string): { ns: string | undefined; name: string } {
  const name = ref.replace(/^(deploy|deployment|deployments|pod|pods|job|jobs)\//, '');
  const slash = name.indexOf('/');
  return slash > 0 ? { ns: name.slice(0, slash), name: name.slice(slash + 1) } : { ns: namespace, name };
}

export function findComponent(state: MeshState, ref: string, namespace?: string): ComponentState {
  const { ns, name } = parseComponentRef(ref, namespace);
  const candidates = state.components.filter((c) => ns === undefined || c.namespace === ns);
  const short = (c: ComponentState) => c.name.slice(c.name.indexOf('/') + 1);
  const exact = candidates.find((c) => short(c) === name);
  if (exact) return exact;
  const replicas = candidates.filter((c) => short(c).replace(/-\d+$/, '') === name).sort((a, b) => a.name.localeCompare(b.name));
  if (replicas[0]) return replicas[0];
  // istioctl's `pod.namespace`, the form proxy-status prints and proxy-config, tls-check and explain take.
  const dot = name.lastIndexOf('.');
  if (ns === undefined && dot > 0) {
    const pod = state.components.find((c) => c.namespace === name.slice(dot + 1) && short(c) === name.slice(0, dot));
    if (pod) return pod;
  }
  const known = state.components.filter((c) => c.kind !== 'control-plane').map((c) => c.name);
  throw new ComponentNotFoundError(`no workload ${ns ? `${ns}/` : ''}${name} in the running mesh; known: ${known.join(', ')}`);
}
