// Where a workload runs, as Istio finds it: an explicit locality (WorkloadEntry `locality`), else the
// `istio-locality` label (`region.zone.subzone`), else the topology labels Kubernetes puts on nodes.
// Local mode has no nodes, so the topology labels are read from the pod template (or WorkloadEntry).

export const regionLabel = 'topology.kubernetes.io/region';
export const zoneLabel = 'topology.kubernetes.io/zone';
export const subzoneLabel = 'topology.istio.io/subzone';
export const istioLocalityLabel = 'istio-locality';

/** `region/zone/subzone` (trailing parts omitted), or undefined when nothing says where it runs. */
export function workloadLocality(labels: Readonly<Record<string, string>>, explicit?: string): string | undefined {
  if (explicit) return explicit;
  // Label values cannot hold `/`, so Istio's label separates the parts with dots.
  const fromLabel = labels[istioLocalityLabel];
  if (fromLabel) return trim(fromLabel.split('.'));
  const region = labels[regionLabel];
  if (!region) return undefined;
  return trim([region, labels[zoneLabel] ?? '', labels[subzoneLabel] ?? '']);
}

function trim(parts: string[]): string {
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.join('/');
}
