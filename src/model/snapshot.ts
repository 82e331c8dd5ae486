// The immutable, indexed view of the mesh at one moment: valid resources plus workload instances.
// PROVISIONAL shape: the model owner fills in the indexes; keep `buildSnapshot`'s signature.
import type { AnyResource } from '../config/resource.ts';
import type { WorkloadInstance } from './workload.ts';

export interface MeshSnapshot {
  /** Changes whenever anything in the snapshot changes; used as the xDS version. */
  readonly version: string;
  readonly resources: readonly AnyResource[];
  readonly workloads: readonly WorkloadInstance[];
}

export function buildSnapshot(
  resources: readonly AnyResource[],
  workloads: readonly WorkloadInstance[],
  version: string,
): MeshSnapshot {
  return Object.freeze({ version, resources, workloads });
}
