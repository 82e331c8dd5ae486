// Request counters and a latency histogram for the demo app's /metrics, in Prometheus text format.
// Label sets are bounded: the path label is the route template (`/status/{code}`), never the raw path.

const bucketsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

interface Series {
  count: number;
  sum: number;
  buckets: number[];
}

export class PodinfoMetrics {
  #requests = new Map<string, number>();
  #durations = new Map<string, Series>();
  #version: string;
  #startSeconds: number;

  constructor(version: string, startSeconds: number) {
    this.#version = version;
    this.#startSeconds = startSeconds;
  }

  record(method: string, route: string, status: number, seconds: number): void {
    const key = `method="${method}",path="${route}",status="${status}"`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    const hKey = `method="${method}",path="${route}"`;
    let series = this.#durations.get(hKey);
    if (!series) {
      series = { count: 0, sum: 0, buckets: bucketsSeconds.map(() => 0) };
      this.#durations.set(hKey, series);
    }
    series.count++;
    series.sum += seconds;
    for (let i = 0; i < bucketsSeconds.length; i++) {
      if (seconds <= (bucketsSeconds[i] ?? 0)) series.buckets[i] = (series.buckets[i] ?? 0) + 1;
    }
  }

  render(): string {
    const lines = [
      '# HELP podinfo_info Podinfo build information.',
      '# TYPE podinfo_info gauge',
      `podinfo_info{version="${this.#version}"} 1`,
      '# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.',
      '# TYPE process_start_time_seconds gauge',
      `process_start_time_seconds ${this.#startSeconds}`,
      '# HELP http_requests_total The total number of HTTP requests.',
      '# TYPE http_requests_total counter',
    ];
    for (const [labels, n] of this.#requests) lines.push(`http_requests_total{${labels}} ${n}`);
    lines.push('# HELP http_request_duration_seconds Seconds spent serving HTTP requests.');
    lines.push('# TYPE http_request_duration_seconds histogram');
    for (const [labels, s] of this.#durations) {
      bucketsSeconds.forEach((le, i) => {
        lines.push(`http_request_duration_seconds_bucket{${labels},le="${le}"} ${s.buckets[i] ?? 0}`);
      });
      lines.push(`http_request_duration_seconds_bucket{${labels},le="+Inf"} ${s.count}`);
      lines.push(`http_request_duration_seconds_sum{${labels}} ${s.sum}`);
      lines.push(`http_request_duration_seconds_count{${labels}} ${s.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
