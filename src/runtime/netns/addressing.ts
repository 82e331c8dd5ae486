// Names and addresses of one netns-mode mesh: a short id makes every name unique (`or-br-<id>`,
// `or-<id>-<n>`, `OUTRIGGER-<id>`); one 10.250.<n>.0/24 holds the bridge (.1), the pods (.2–.127) and the
// service addresses DNS hands out (.128–.254), which never leave the pods that capture them.
import { randomBytes } from 'node:crypto';

export class AddressExhaustedError extends Error {
  readonly code = 'NETNS_ADDRESSES_EXHAUSTED';
}

export const firstPodHost = 2;
export const lastPodHost = 127;
export const firstServiceHost = 128;
export const lastServiceHost = 254;

export interface MeshAddressing {
  id: string;
  /** The third octet of 10.250.<n>.0/24. */
  subnet: number;
}

export function newMeshId(random: () => Buffer = () => randomBytes(3)): string {
  return random().toString('hex').slice(0, 6);
}

export const bridgeName = (a: MeshAddressing) => `or-br-${a.id}`;
export const bridgeAddress = (a: MeshAddressing) => `10.250.${a.subnet}.1`;
export const subnetCidr = (a: MeshAddressing) => `10.250.${a.subnet}.0/24`;
/** The service addresses: the upper half of the subnet. */
export const serviceCidr = (a: MeshAddressing) => `10.250.${a.subnet}.128/25`;
/** Both the network namespace and the host end of its veth pair (≤ 15 characters, Linux's limit). */
export const podName = (a: MeshAddressing, host: number) => `or-${a.id}-${host}`;
export const podAddress = (a: MeshAddressing, host: number) => `10.250.${a.subnet}.${host}`;
/** The host's own chain (filter table), jumped to from INPUT and FORWARD for the bridge. */
export const hostChain = (a: MeshAddressing) => `OUTRIGGER-${a.id}`;

/** The first 10.250.<n>.0/24 no interface or route of this host uses, starting at `start`. */
export function pickSubnet(used: readonly string[], start: number): number {
  const taken = new Set<number>();
  for (const text of used) {
    for (const m of text.matchAll(/\b10\.250\.(\d{1,3})\.\d{1,3}\b/g)) taken.add(Number(m[1]));
  }
  for (let i = 0; i < 256; i++) {
    const n = (start + i) % 256;
    if (!taken.has(n)) return n;
  }
  throw new AddressExhaustedError('every 10.250.<n>.0/24 is in use on this host');
}

/** Hands out pod host numbers and service addresses in order; service addresses are stable per key. */
export class AddressBook {
  #a: MeshAddressing;
  #nextPod = firstPodHost;
  #services = new Map<string, string>();

  constructor(a: MeshAddressing) {
    this.#a = a;
  }

  nextPodHost(): number {
    if (this.#nextPod > lastPodHost) throw new AddressExhaustedError(`no pod addresses left in ${subnetCidr(this.#a)} (at most ${lastPodHost - firstPodHost + 1} pods)`);
    return this.#nextPod++;
  }

  /** The address DNS gives `service.namespace`. */
  serviceAddress(service: string, namespace: string): string {
    const key = `${service}.${namespace}`;
    const known = this.#services.get(key);
    if (known) return known;
    const host = firstServiceHost + this.#services.size;
    if (host > lastServiceHost) throw new AddressExhaustedError(`no service addresses left in ${serviceCidr(this.#a)} (at most ${lastServiceHost - firstServiceHost + 1} services)`);
    const address = `10.250.${this.#a.subnet}.${host}`;
    this.#services.set(key, address);
    return address;
  }
}
