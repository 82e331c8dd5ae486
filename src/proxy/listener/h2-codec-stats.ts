// Envoy's downstream HTTP/2 codec counters (`http2.*`, Prometheus `envoy_http2_*`): the floods that
// closed a connection. One registry family per stat, bound once.
import type { Counter, MetricsRegistry } from '../../telemetry/metrics/registry.ts';

export const H2_CODEC_STATS = ['inbound_empty_frames_flood', 'outbound_control_flood', 'too_many_premature_resets'] as const;
export type H2CodecStat = (typeof H2_CODEC_STATS)[number];

export class Http2CodecStats {
  readonly #counters = new Map<H2CodecStat, Counter>();

  constructor(registry: MetricsRegistry) {
    for (const s of H2_CODEC_STATS) this.#counters.set(s, registry.counter(`envoy_http2_${s}`, `Downstream HTTP/2 connections closed: ${s}`, () => `http2.${s}`).bind());
  }

  inc(stat: H2CodecStat): void {
    this.#counters.get(stat)?.inc();
  }
}
