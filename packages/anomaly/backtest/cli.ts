/**
 * `pnpm --silent backtest --input-dir <dir> --output-dir <dir> [--plot]`: runs the anomaly detector, with its
 * default configuration, on every `<input>/<category>/<name>.csv` and writes the scored copies (and plots).
 */
import { parseArgs } from "node:util";
import { runBacktest } from "./backtest.ts";

const USAGE = "usage: pnpm --silent backtest --input-dir <dir> --output-dir <dir> [--plot] [--quiet]";

export function main(argv: string[]): number {
  let values: { "input-dir"?: string; "output-dir"?: string; plot?: boolean; quiet?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "input-dir": { type: "string" },
        "output-dir": { type: "string" },
        plot: { type: "boolean" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values["input-dir"] || !values["output-dir"]) {
    console.error(USAGE);
    return 2;
  }
  try {
    const summary = runBacktest({
      inputDir: values["input-dir"],
      outputDir: values["output-dir"],
      plot: values.plot ?? false,
    });
    if (!values.quiet) {
      console.error(
        `backtest: ${summary.series} series, ${summary.points} points, ${summary.alerts} alerts in ${summary.elapsedMs.toFixed(0)} ms`,
      );
    }
    return 0;
  } catch (error) {
    console.error(`backtest: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(main(process.argv.slice(2)));
