// The environment a workload's app starts with in process mode: its container env resolved as Kubernetes
// would, the Kubernetes service variables, its listening port, and the proxy variables that send its
// outbound calls through its sidecar.
import os from 'node:os';
import type { AnyResource, ConfigMap, Secret, Service } from '../config/resource.ts';
import type { Container } from '../config/types/kubernetes.ts';
import type { PlannedWorkload } from './plan.ts';

export interface AppEnvInput {
  workload: PlannedWorkload;
  container: Container;
  resources: readonly AnyResource[];
  /** Container port → the port the app must listen on. */
  appPorts: Record<number, number>;
  /** `http://127.0.0.1:PORT` of the sidecar's outbound listener; absent without a sidecar. */
  proxyUrl?: string;
  /** Variables of the host that pass through (PATH, HOME, ...). */
  base: NodeJS.ProcessEnv;
}

function envName(service: string): string {
  return service.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Kubernetes' docker-link style service variables for the services of one namespace. */
export function serviceVariables(services: readonly Service[], namespace: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const svc of services) {
    if (svc.metadata.namespace !== namespace) continue;
    const ports = svc.spec.ports ?? [];
    const first = ports[0];
    if (!first) continue;
    const name = envName(svc.metadata.name);
    const host = `${svc.metadata.name}.${namespace}.svc.cluster.local`;
    out[`${name}_SERVICE_HOST`] = host;
    out[`${name}_SERVICE_PORT`] = String(first.port);
    out[`${name}_PORT`] = `tcp://${host}:${first.port}`;
    for (const p of ports) {
      const proto = (p.protocol ?? 'TCP').toLowerCase();
      if (p.name) out[`${name}_SERVICE_PORT_${envName(p.name)}`] = String(p.port);
      const key = `${name}_PORT_${p.port}_${proto.toUpperCase()}`;
      out[key] = `${proto}://${host}:${p.port}`;
      out[`${key}_PROTO`] = proto;
      out[`${key}_PORT`] = String(p.port);
      out[`${key}_ADDR`] = host;
    }
  }
  return out;
}

function fieldRef(fieldPath: string, w: PlannedWorkload): string {
  switch (fieldPath) {
    case 'metadata.name':
      return w.name;
    case 'metadata.namespace':
      return w.namespace;
    case 'spec.serviceAccountName':
      return w.serviceAccount;
    case 'status.podIP':
    case 'status.hostIP':
      return '127.0.0.1';
    case 'spec.nodeName':
      return os.hostname();
    default: {
      const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
      if (m) return (m[1] === 'labels' ? w.labels : w.annotations)[m[2] as string] ?? '';
      return '';
    }
  }
}

function lookupData(resources: readonly AnyResource[], kind: 'Secret' | 'ConfigMap', ns: string, name: string, key: string): string | undefined {
  const r = resources.find((x) => x.kind === kind && x.metadata.namespace === ns && x.metadata.name === name) as Secret | ConfigMap | undefined;
  return r?.spec.data[key];
}

export function buildAppEnv(input: AppEnvInput): Record<string, string> {
  const { workload: w, container, resources } = input;
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'USER', 'SHELL', 'TERM']) {
    const v = input.base[key];
    if (v !== undefined) env[key] = v;
  }
  const services = resources.filter((r): r is Service => r.kind === 'Service');
  Object.assign(env, serviceVariables(services, w.namespace));
  env['HOSTNAME'] = w.name;
  env['POD_NAME'] = w.name;
  env['POD_NAMESPACE'] = w.namespace;
  const ports = container.ports ?? [];
  const firstPort = ports[0];
  if (firstPort) env['PORT'] = String(input.appPorts[firstPort.containerPort] ?? firstPort.containerPort);
  for (const p of ports) env[`OUTRIGGER_PORT_${p.containerPort}`] = String(input.appPorts[p.containerPort] ?? p.containerPort);
  if (w.labels['version']) env['OUTRIGGER_VERSION'] = w.labels['version'];
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = fieldRef(e.valueFrom.fieldRef.fieldPath, w);
    else if (e.valueFrom?.secretKeyRef) {
      const v = lookupData(resources, 'Secret', w.namespace, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
      if (v !== undefined) env[e.name] = v;
    } else if (e.valueFrom?.configMapKeyRef) {
      const v = lookupData(resources, 'ConfigMap', w.namespace, e.valueFrom.configMapKeyRef.name, e.valueFrom.configMapKeyRef.key);
      if (v !== undefined) env[e.name] = v;
    }
  }
  if (input.proxyUrl) {
    // curl reads only the lower-case http_proxy; most other clients read either.
    for (const k of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'grpc_proxy']) env[k] = input.proxyUrl;
    env['NO_PROXY'] = env['no_proxy'] = 'localhost,127.0.0.1,::1';
    // Node's own http, https and fetch honour the proxy variables only when asked to.
    env['NODE_USE_ENV_PROXY'] = '1';
  }
  return env;
}
