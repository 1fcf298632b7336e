'use strict';
// Smoke test of the built module (the current directory holds the build output); prints a
// JUnit XML report and exits non-zero when a check fails.
const path = require('node:path');
const { slugify } = require(path.resolve('slugkit.js'));

const checks = [
  ['the title from the environment', () => slugify(process.env.EXPECTED_TITLE) === 'creme-brulee'],
  ['an empty title', () => slugify('') === ''],
];
let failed = 0;
const cases = checks.map(([name, check]) => {
  const started = process.hrtime.bigint();
  const ok = check();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (!ok) failed += 1;
  const failure = ok ? '' : '<failure message="check failed"/>';
  return `  <testcase classname="smoke" name="${name}" time="${seconds.toFixed(6)}">${failure}</testcase>`;
});
console.log(`<?xml version="1.0"?>\n<testsuite name="smoke" tests="${checks.length}" failures="${failed}">\n${cases.join('\n')}\n</testsuite>`);
process.exitCode = failed ? 1 : 0;
