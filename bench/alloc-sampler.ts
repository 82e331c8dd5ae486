// Loaded into each sidecar with `--import` by `node bench/profile.ts --alloc`. The first SIGUSR2 starts
// V8's sampling heap profiler, keeping the samples of objects the GC has since collected (what the
// request path allocates, not what it retains); the second writes the profile to
// $OUTRIGGER_ALLOC_PROFILE_DIR/<pid>.heapprofile.
import { writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';

const dir = process.env['OUTRIGGER_ALLOC_PROFILE_DIR'];
if (dir) {
  const session = new inspector.Session();
  session.connect();
  let sampling = false;
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true;
      session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return;
    }
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) writeFileSync(path.join(dir, `${process.pid}.heapprofile`), JSON.stringify(r.profile));
    });
  });
}
