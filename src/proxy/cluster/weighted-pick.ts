// Weighted cluster choice (route weighted_clusters, tcp_proxy weighted_clusters), compiled once.

export type WeightedPick = (random: number) => string;

export function compileWeightedPick(list: readonly { name: string; weight: number }[]): WeightedPick {
  const names = list.map((c) => c.name);
  const cumulative: number[] = [];
  let total = 0;
  for (const c of list) {
    total += c.weight;
    cumulative.push(total);
  }
  return (random) => {
    const x = random * total;
    for (let i = 0; i < cumulative.length; i++) if (x < (cumulative[i] as number)) return names[i] as string;
    return names[names.length - 1] ?? '';
  };
}
