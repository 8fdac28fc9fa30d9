// A runnable entry until the CLI wires `tidemark rules test`:
//   npx tsx engine/rules/run-promtool-tests.ts FILE…
// Same code and exit status as rulesTestCommand.
import { rulesTestCommand } from './promtool-test.ts'

process.exitCode = await rulesTestCommand(process.argv.slice(2), process.stdout, process.stderr)
