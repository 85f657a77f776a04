/**
 * `pnpm push <kind> ...`: pushes files, messages, records and items into the local cloud or a deployed stage.
 * `pnpm push --help` lists the kinds; the frame and the kinds live in `../push/`.
 */
import { runPush } from "../push/cli.ts";

process.exitCode = await runPush(process.argv.slice(2));
