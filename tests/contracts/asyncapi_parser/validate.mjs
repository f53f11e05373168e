// Parse each AsyncAPI document with the official parser and print one JSON line per file:
// whether it parsed without errors, its diagnostics, and what the parser saw in it.
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'node:fs';

const parser = new Parser();
let failed = 0;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(readFileSync(file, 'utf8'));
  const errors = diagnostics.filter((d) => d.severity === 0);
  const channels = document
    ? document.channels().all().map((c) => ({
        address: c.address(),
        messages: c.messages().all().map((m) => m.name()),
      }))
    : [];
  const ok = Boolean(document) && errors.length === 0;
  console.log(JSON.stringify({
    file,
    ok,
    version: document ? document.version() : null,
    channels,
    errors: errors.map((e) => ({ code: e.code, message: e.message, path: e.path })),
  }));
  if (!ok) failed = 1;
}
process.exit(failed);
