// The parser of every port flag: a TCP port number (0: any free port), refused at parse time with the
// flag named, rather than bound as NaN or as whatever a typo happens to become.
import { InvalidArgumentError } from 'commander';

export function portArg(v: string): string {
  if (!/^\d+$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError('must be a port number, 0 to 65535');
  return v;
}

/** The same, as a number. */
export const portNumber = (v: string): number => Number(portArg(v));
