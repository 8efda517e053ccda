/**
 * Turns `deno bench --json` output into the tables of `BENCHMARKS.md`: per
 * group, each case's average and p75 time and its ratio to the group's
 * baseline, the target that applies and whether it is met; then how the cost
 * grows with the number of extensions.
 *
 * ```sh
 * deno bench -A --unstable-worker-options benchmarks/ --json > /tmp/bench.json
 * deno run --allow-read benchmarks/ratios.ts /tmp/bench.json
 * ```
 *
 * @module
 */

/** One case of `deno bench --json` output (the fields used here). */
export interface BenchCase {
  /** The bench file. */
  origin: string;
  /** The group; cases without one are left out. */
  group?: string | null;
  /** The case's name. */
  name: string;
  /** Whether it is its group's baseline. */
  baseline: boolean;
  /** One result: `ok` with times in nanoseconds, or a failure. */
  results: { ok?: { n: number; avg: number; p75: number; min: number; max: number } }[];
}

/** The whole `deno bench --json` document. */
export interface BenchReport {
  /** Deno and platform. */
  runtime: string;
  /** The CPU as Deno names it. */
  cpu: string;
  /** Every case, in run order. */
  benches: BenchCase[];
}

/** A target of the issue: a bound on the ratio of a case to its baseline. */
export interface Target {
  /** Which groups it applies to. */
  group: RegExp;
  /** Which cases it applies to. */
  name: RegExp;
  /** The largest ratio of times (case / baseline) that meets it. */
  maxRatio: number;
  /** How it is written in the table. */
  label: string;
}

/** The targets of the benchmark issue. */
export const TARGETS: readonly Target[] = [
  {
    group: /^dispatch, async handlers/,
    name: /^nailgun: await manager\.notify\(\)$/,
    maxRatio: 1.2,
    label: "≤ 1.2×",
  },
  {
    group: /^dispatch, sync handlers/,
    name: /^nailgun: (manager\.dispatch\(\)|await manager\.notify\(\))$/,
    maxRatio: 3,
    label: "≤ 3×",
  },
  {
    group: /^start-up, 100 extensions$/,
    name: /^nailgun: /,
    maxRatio: 1.5,
    label: "≤ 1.5×",
  },
  {
    // Throughput ≥ 0.9× of none means time per request ≤ 1 / 0.9 of none.
    group: /^service/,
    name: /^nailgun: .*10 no-op extensions/,
    maxRatio: 1 / 0.9,
    label: "throughput ≥ 0.9×",
  },
];

/** Growth between two counts beyond this factor of the counts' ratio is not linear. */
export const LINEAR_TOLERANCE = 1.1;

/** One row of a group's table. */
export interface Row {
  /** The case. */
  name: string;
  /** Whether it is the baseline. */
  baseline: boolean;
  /** Average time per iteration, in nanoseconds. */
  avg: number;
  /** 75th percentile, in nanoseconds. */
  p75: number;
  /** Average over the baseline's average. */
  ratio: number;
  /** p75 over the baseline's p75. */
  ratioP75: number;
  /** Fastest iteration, in nanoseconds. */
  min: number;
  /** min over the baseline's min. */
  ratioMin: number;
  /** The target that applies, if any. */
  target?: Target;
}

/** A group's rows, in run order. */
export interface Group {
  /** The group's name. */
  name: string;
  /** Its rows; the first baseline is the reference. */
  rows: Row[];
}

/**
 * Groups the cases and computes each one's ratios to its group's baseline.
 *
 * @param report The parsed `deno bench --json` output.
 * @returns The groups, in run order.
 * @throws {RangeError} When a group has no baseline, or a case failed.
 */
export function groupCases(report: BenchReport): Group[] {
  const byName = new Map<string, BenchCase[]>();
  for (const bench of report.benches) {
    if (!bench.group) continue;
    const cases = byName.get(bench.group) ?? [];
    cases.push(bench);
    byName.set(bench.group, cases);
  }
  return [...byName].map(([name, cases]) => {
    const baseline = cases.find((bench) => bench.baseline);
    if (!baseline) {
      throw new RangeError(`Cannot compute ratios of group "${name}": it has no baseline`);
    }
    const reference = resultOf(baseline);
    const rows = cases.map((bench): Row => {
      const result = resultOf(bench);
      return {
        name: bench.name,
        baseline: bench === baseline,
        avg: result.avg,
        p75: result.p75,
        ratio: result.avg / reference.avg,
        ratioP75: result.p75 / reference.p75,
        min: result.min,
        ratioMin: result.min / reference.min,
        target: TARGETS.find((target) => target.group.test(name) && target.name.test(bench.name)),
      };
    });
    return { name, rows };
  });
}

function resultOf(bench: BenchCase): { avg: number; p75: number; min: number } {
  const ok = bench.results[0]?.ok;
  if (!ok) {
    throw new RangeError(
      `Cannot compute ratios of "${bench.name}" in group "${bench.group}": it failed: current value is ${
        JSON.stringify(bench.results)
      }`,
    );
  }
  return ok;
}

/**
 * Formats a time in nanoseconds as Deno does: ns, µs, ms or s.
 *
 * @param ns The time in nanoseconds.
 * @returns The time with its unit.
 */
export function formatTime(ns: number): string {
  if (ns < 1e3) return `${ns.toFixed(1)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}

/**
 * Whether a row meets its target. On a shared, noisy machine the average
 * alone can mislead (one burst of load moves it), so the verdict is "met"
 * when both the average and the p75 ratio meet the target, "missed" when
 * neither does, and "unclear" when they disagree.
 *
 * @param row The row.
 * @returns The verdict, or `undefined` when no target applies.
 */
export function verdictOf(row: Row): "met" | "missed" | "unclear" | undefined {
  if (!row.target) return undefined;
  const byAvg = row.ratio <= row.target.maxRatio;
  const byP75 = row.ratioP75 <= row.target.maxRatio;
  return byAvg && byP75 ? "met" : !byAvg && !byP75 ? "missed" : "unclear";
}

function verdict(row: Row): string {
  const result = verdictOf(row);
  if (!result) return "";
  const throughput = row.target!.label.startsWith("throughput")
    ? ` (throughput ${(1 / row.ratio).toFixed(2)}× by avg, ${
      (1 / row.ratioP75).toFixed(2)
    }× by p75)`
    : "";
  return `${row.target!.label}: **${result}**${throughput}`;
}

/**
 * Renders one group as a Markdown table.
 *
 * @param group The group.
 * @returns The table, headed by the group's name.
 */
export function renderGroup(group: Group): string {
  const lines = [
    `### ${group.name}`,
    "",
    "| case | avg | p75 | min | avg / baseline | p75 / baseline | min / baseline | target |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const row of group.rows) {
    lines.push(
      `| ${row.baseline ? `${row.name} (baseline)` : row.name} | ${formatTime(row.avg)} | ${
        formatTime(row.p75)
      } | ${formatTime(row.min)} | ${row.ratio.toFixed(2)}× | ${row.ratioP75.toFixed(2)}× | ${
        row.ratioMin.toFixed(2)
      }× | ${verdict(row)} |`,
    );
  }
  return lines.join("\n");
}

/**
 * How each case's time grows across groups that differ only by their number
 * of extensions ("…, 10 extensions" and "…, 100 extensions"), and whether the
 * growth between the two largest counts is at most linear (within
 * {@linkcode LINEAR_TOLERANCE}); smaller counts are shown but not judged, as
 * fixed costs dominate them.
 *
 * @param groups The groups.
 * @returns Markdown tables, or an empty string when no groups differ so.
 */
export function renderGrowth(groups: readonly Group[]): string {
  const COUNT = /\b(\d+) extensions?\b/;
  const families = new Map<string, { count: number; group: Group }[]>();
  for (const group of groups) {
    const match = COUNT.exec(group.name);
    if (!match) continue;
    const family = group.name.replace(COUNT, "N extensions");
    const members = families.get(family) ?? [];
    members.push({ count: Number(match[1]), group });
    families.set(family, members);
  }
  const lines: string[] = [];
  for (const [family, members] of families) {
    if (members.length < 2) continue;
    members.sort((a, b) => a.count - b.count);
    const low = members[members.length - 2]!;
    const high = members[members.length - 1]!;
    const countRatio = high.count / low.count;
    lines.push(
      `### ${family}`,
      "",
      `| case | ${
        members.map((member) => `${member.count}`).join(" | ")
      } | ${high.count} / ${low.count} | per extension, ${low.count} → ${high.count} | at most linear |`,
      `| --- | ${members.map(() => "---:").join(" | ")} | ---: | ---: | --- |`,
    );
    for (const row of low.group.rows) {
      const times = members.map((member) =>
        member.group.rows.find((other) => other.name === row.name)?.avg
      );
      const lowTime = times[times.length - 2];
      const highTime = times[times.length - 1];
      if (lowTime === undefined || highTime === undefined) continue;
      const growth = highTime / lowTime;
      const perExtension = `${formatTime(lowTime / low.count)} → ${
        formatTime(highTime / high.count)
      }`;
      lines.push(
        `| ${row.name} | ${
          times.map((time) => time === undefined ? "" : formatTime(time)).join(" | ")
        } | ${growth.toFixed(1)}× | ${perExtension} | ${
          growth <= countRatio * LINEAR_TOLERANCE ? "yes" : "**no**"
        } |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

/**
 * Renders the whole report: the machine, one table per group, the growth.
 *
 * @param report The parsed `deno bench --json` output.
 * @param machine Lines that describe the machine, e.g. cores and CPU model.
 * @returns Markdown.
 */
export function renderReport(report: BenchReport, machine: readonly string[]): string {
  const groups = groupCases(report);
  return [
    `- Runtime: ${report.runtime}`,
    ...machine.map((line) => `- ${line}`),
    "",
    "## Ratios to the baseline of each group",
    "",
    groups.map(renderGroup).join("\n\n"),
    "",
    "## Growth with the number of extensions",
    "",
    renderGrowth(groups),
  ].join("\n");
}

function describeMachine(): string[] {
  const lines = [`Cores (navigator.hardwareConcurrency): ${navigator.hardwareConcurrency}`];
  try {
    const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
    const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1];
    if (model) lines.push(`CPU model (/proc/cpuinfo): ${model}`);
  } catch {
    // Not Linux, or no permission: the runtime line still names the CPU.
  }
  return lines;
}

if (import.meta.main) {
  const file = Deno.args[0];
  const text = file
    ? await Deno.readTextFile(file)
    : await new Response(Deno.stdin.readable).text();
  console.log(renderReport(JSON.parse(text) as BenchReport, describeMachine()));
}
