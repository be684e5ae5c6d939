// lint.mjs - checks an OpenAPI document with Redocly's linter ("recommended" rules):
// structural validity against OpenAPI 3.1 plus the usual hygiene. Any error fails.
//   node lint.mjs <openapi.json>
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const root = process.env.TA_SOURCE_DIR || path.resolve(import.meta.dirname, '../..');
const require = createRequire(path.join(root, 'package.json'));
const { lintFromString, createConfig } = require('@redocly/openapi-core');

const file = process.argv[2];
const source = fs.readFileSync(file, 'utf8');
const doc = JSON.parse(source);
if (doc.openapi !== '3.1.0') throw new Error(`openapi is ${doc.openapi}, want 3.1.0`);
const config = await createConfig({ extends: ['recommended'] });
const problems = await lintFromString({ source, absoluteRef: file, config });
for (const p of problems)
  console.log(`${p.severity} ${p.ruleId}: ${p.message} at ${p.location?.[0]?.pointer}`);
const errors = problems.filter((p) => p.severity === 'error');
console.log(`${problems.length} problem(s), ${errors.length} error(s)`);
process.exit(errors.length ? 1 : 0);
