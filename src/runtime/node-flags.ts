// Node flags for the processes a local mesh runs: the control plane, the proxy host, built-in apps.

/**
 * - `--max-semi-space-size=4`: a smaller young generation for the long-running processes of a local
 *   mesh that are not on the request path (the control plane, `up`, built-in apps): they make
 *   short-lived garbage at a steady rate and the default 16 MB semi-spaces mostly hold it. Measured on
 *   the seed under load: the control plane 233 → 170 MB resident. (As a command-line flag:
 *   `v8.setFlagsFromString` after start did not reliably take effect.)
 * - `--v8-pool-size=1`: one V8 background thread instead of four. A proxy warming up under load
 *   optimizes dozens of functions at once; four compiler threads per process, on the cores the proxies
 *   share, took the core from the event loops for 100–200 ms, and that burst was the 1,000 rps p99
 *   (bench/RESULTS.md, "Compiler threads and the 1,000 rps tail").
 */
export const meshNodeFlags: readonly string[] = ['--max-semi-space-size=4', '--v8-pool-size=1'];

/**
 * The proxies' flags: as {@link meshNodeFlags}, but with 8 MB semi-spaces. A proxy allocates 15–50 KB
 * per request, and each scavenge copies the requests in flight, so a small young generation costs CPU
 * at high load. Paired on the sidecar pair under wrk -c50 (bench/RESULTS.md, "Young generation of the
 * proxies"): against 4 MB, 8 MB took 0.91–0.98 × the CPU per request and 16 MB 0.87 ×; at 1,000 rps
 * 16 MB took 0.97 ×. Resident memory grows with it: about 10 MB per proxy process for 8 MB, 20–35 MB
 * for 16 MB. Most sidecars run far below saturation, where the young generation matters least, so
 * the proxies take the middle.
 */
export const proxyNodeFlags: readonly string[] = ['--max-semi-space-size=8', '--v8-pool-size=1'];
