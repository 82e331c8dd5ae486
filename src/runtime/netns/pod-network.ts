// The network of one netns-mode mesh: a bridge with the host's address on it, one network namespace per
// pod joined to it by a veth pair, and the host rules that let bridge traffic through. Everything it
// makes carries the mesh id, so teardown (or a later sweep) removes exactly what this mesh made.
import { mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  AddressBook,
  bridgeAddress,
  bridgeName,
  hostChain,
  type MeshAddressing,
  newMeshId,
  pickSubnet,
  podAddress,
  podName,
  subnetCidr,
} from './addressing.ts';
import { run, runQuietly } from './system-command.ts';

export interface PodHandle {
  /** Network namespace name, also the host end of its veth pair: `or-<id>-<n>`. */
  netns: string;
  address: string;
}

export class PodNetwork {
  readonly addressing: MeshAddressing;
  readonly addresses: AddressBook;
  #pods: PodHandle[] = [];
  #torn = false;
  /** Pods being made: a teardown waits for them, or its sweep could list the namespaces before one exists. */
  readonly #adding = new Set<Promise<unknown>>();

  private constructor(a: MeshAddressing) {
    this.addressing = a;
    this.addresses = new AddressBook(a);
  }

  /** Creates the bridge `or-br-<id>` on a free 10.250.<n>.0/24 and the host chain `OUTRIGGER-<id>`. */
  static async create(opts: { id?: string; random?: () => number } = {}): Promise<PodNetwork> {
    const id = opts.id ?? newMeshId();
    const used = [await run('ip', ['-4', '-o', 'addr', 'show']), await run('ip', ['-4', 'route', 'show', 'table', 'all'])];
    const subnet = pickSubnet(used, Math.floor((opts.random ?? Math.random)() * 256));
    const net = new PodNetwork({ id, subnet });
    try {
      await net.#createBridge();
    } catch (err) {
      await net.teardown();
      throw err;
    }
    return net;
  }

  get bridge(): string {
    return bridgeName(this.addressing);
  }

  get hostAddress(): string {
    return bridgeAddress(this.addressing);
  }

  get pods(): readonly PodHandle[] {
    return this.#pods;
  }

  async #createBridge(): Promise<void> {
    const a = this.addressing;
    const br = bridgeName(a);
    await run('ip', ['link', 'add', br, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${bridgeAddress(a)}/24`, 'dev', br]);
    await run('ip', ['link', 'set', br, 'up']);
    // Hosts with a DROP policy (Docker's FORWARD) or br_netfilter would otherwise drop pod traffic.
    const chain = hostChain(a);
    await run('iptables', ['-w', '-N', chain]);
    await run('iptables', ['-w', '-A', chain, '-i', br, '-j', 'ACCEPT']);
    await run('iptables', ['-w', '-A', chain, '-o', br, '-j', 'ACCEPT']);
    await run('iptables', ['-w', '-I', 'INPUT', '-i', br, '-j', chain]);
    await run('iptables', ['-w', '-I', 'FORWARD', '-i', br, '-j', chain]);
  }

  /** A new pod namespace with lo up, eth0 on the bridge and a default route through the host. */
  addPod(): Promise<PodHandle> {
    // After a teardown began nothing more is made: it would outlive the sweep.
    if (this.#torn) return Promise.reject(new Error(`pod network ${this.bridge} is being torn down`));
    const made = this.#makePod();
    this.#adding.add(made);
    void made.then(
      () => this.#adding.delete(made),
      () => this.#adding.delete(made),
    );
    return made;
  }

  async #makePod(): Promise<PodHandle> {
    const a = this.addressing;
    const host = this.addresses.nextPodHost();
    const pod: PodHandle = { netns: podName(a, host), address: podAddress(a, host) };
    this.#pods.push(pod);
    const { netns } = pod;
    await run('ip', ['netns', 'add', netns]);
    // IPv4 only: the pod's rules are iptables rules, and an app listening on `::` would otherwise be
    // reachable on eth0's link-local IPv6 address past all of them.
    await run('ip', ['netns', 'exec', netns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    await run('ip', ['link', 'add', netns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await run('ip', ['link', 'set', netns, 'master', bridgeName(a), 'up']);
    await run('ip', ['-n', netns, 'addr', 'add', `${pod.address}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', netns, 'route', 'add', 'default', 'via', bridgeAddress(a)]);
    return pod;
  }

  /** `/etc/netns/<ns>/resolv.conf`, which `ip netns exec` mounts over /etc/resolv.conf. */
  writeResolvConf(pod: PodHandle, searchList: readonly string[]): void {
    const dir = path.join('/etc/netns', pod.netns);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'resolv.conf'), `nameserver ${this.hostAddress}\nsearch ${searchList.join(' ')}\noptions ndots:5\n`);
  }

  /** Removes every namespace, link, rule and file this mesh made; safe to call twice. */
  async teardown(): Promise<void> {
    if (this.#torn) return;
    this.#torn = true;
    // A pod half made when the stop came (up's output closed while pods started) finishes first, then
    // the sweep finds it by name with the rest.
    await Promise.allSettled([...this.#adding]);
    await sweepMesh(this.addressing.id);
  }

  describe(): string {
    return `bridge ${this.bridge} ${subnetCidr(this.addressing)}, ${this.#pods.length} pod namespace(s)`;
  }
}

/**
 * Removes whatever a mesh with this id left behind, found by name rather than remembered, so it also
 * cleans up after an `up` that was killed: namespaces `or-<id>-*`, their /etc/netns files, the bridge,
 * the host chain and the jumps to it.
 */
export async function sweepMesh(id: string): Promise<void> {
  const prefix = `or-${id}-`;
  const namespaces = (await run('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(prefix));
  for (const ns of namespaces) {
    // Deleting the namespace deletes its veth pair and every rule inside it.
    await runQuietly('ip', ['netns', 'delete', ns]);
    rmSync(path.join('/etc/netns', ns), { recursive: true, force: true });
  }
  removeIfEmpty('/etc/netns');
  const links = (await run('ip', ['-o', 'link', 'show'])).split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '');
  for (const link of links.filter((l) => l.startsWith(prefix) || l === `or-br-${id}`)) await runQuietly('ip', ['link', 'delete', link]);
  const chain = `OUTRIGGER-${id}`;
  const rules = await run('iptables', ['-w', '-S']);
  for (const line of rules.split('\n')) {
    const m = /^-A (INPUT|FORWARD) (.*-j (\S+))$/.exec(line);
    if (m && m[3] === chain) await runQuietly('iptables', ['-w', '-D', m[1] as string, ...(m[2] as string).split(' ')]);
  }
  if (rules.includes(`-N ${chain}\n`) || rules.endsWith(`-N ${chain}`)) {
    await runQuietly('iptables', ['-w', '-F', chain]);
    await runQuietly('iptables', ['-w', '-X', chain]);
  }
}

function removeIfEmpty(dir: string): void {
  try {
    if (readdirSync(dir).length === 0) rmdirSync(dir);
  } catch {
    // absent already, or another mesh's files are in it
  }
}
