// A readiness probe's part for a pod the local runtime runs: when its app exits, the pod leaves its
// services' endpoints (Kubernetes takes a pod whose container is not running out of them), and it joins
// again once the restarted app listens. The app's first start is the runtime's own (it registers the pod
// when the app first listens).
import type { WorkloadInstance } from '../model/workload.ts';
import type { Supervised } from './supervisor.ts';

export interface ReadinessOptions {
  /** Resolves once the app accepts connections on its ports (true), or gives up (false). */
  listening: () => Promise<boolean>;
  /** True once the mesh is stopping: exits are then expected, and nothing is registered. */
  stopping: () => boolean;
  /** Tells the control plane the pod as it is now. */
  register: (instance: WorkloadInstance) => void;
}

export function followReadiness(app: Supervised, ready: WorkloadInstance, o: ReadinessOptions): void {
  let starts = 0;
  let down = false;
  app.on('exit', () => {
    if (o.stopping()) return;
    down = true;
    o.register({ ...ready, healthy: false });
  });
  app.on('started', () => {
    if (starts++ === 0) return;
    void o.listening().then(() => {
      // Still this run of the app (not exited again), and still a mesh (not stopping).
      if (o.stopping() || !app.running || !down) return;
      down = false;
      o.register(ready);
    });
  });
}
