// How an `outrigger` command exits, as istioctl's do (sysexits-style values, istioctl/cmd/exit.go):
// 0 done; 1 the command ran and failed, or found what it checks for (an unreachable mesh, an unknown
// proxy, analyze errors, a tls-check conflict, a failed verify); 64 the command line itself is wrong
// (an unknown command or option, a missing or extra argument, a value or path a flag does not take),
// whether the argument parser or the command's own checks find it.

export const EXIT_FAILURE = 1;
/** sysexits' EX_USAGE, istioctl's ExitIncorrectUsage. */
export const EXIT_USAGE = 64;

/** The codes of the errors that say the command line is wrong (each names the flag or argument). */
const usageErrorCodes: ReadonlySet<string> = new Set(['CONTROL_PLANE_ARGS', 'EXEC_ARGS', 'EXPLAIN_INPUT', 'PATH_ARG', 'PROXY_ARGS', 'PROXY_HOST_SPEC', 'PROXY_XDS_TLS_ARGS']);

/** The exit code for an error a command ended with: usage for a wrong command line, else failure. */
export function exitCodeOf(code: string): number {
  return usageErrorCodes.has(code) ? EXIT_USAGE : EXIT_FAILURE;
}
