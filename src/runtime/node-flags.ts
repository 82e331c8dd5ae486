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
 * The proxies' flags: as {@link meshNodeFlags}, but with 16 MB semi-spaces. A proxy allocates 15–50 KB
 * per request, and each scavenge copies the requests in flight; with 4 MB semi-spaces it scavenged four
 * times as often. Paired on the sidecar pair (bench/RESULTS.md, "Young generation of the proxies"):
 * HTTP/1.1 at saturation 0.88 × the CPU per request, 1,000 rps 0.97 ×, for about 18 MB more
 * resident memory per proxy process.
 */
export const proxyNodeFlags: readonly string[] = ['--max-semi-space-size=16', '--v8-pool-size=1'];
