// Runs SQL on chDB (the ClickHouse engine in-process, a current release)
// for the test that checks sonde's ClickHouse SQL on current ClickHouse.
//
//   node scripts/chdb-run.js CHDB_DIR < job.json > result.json
//
// job.json: {"setup": ["SQL", ...], "queries": ["SQL", ...]}. The setup
// statements run in order in one session (a temporary directory) and stop
// at the first error; every query then runs and answers in JSONCompact.
// result.json: {"version": "...", "setupError": "...", "results":
// [{"data": [[...], ...]} or {"error": "..."}, ...]}.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { Session } = require(path.resolve(process.argv[2], "node_modules", "chdb"));

const job = JSON.parse(fs.readFileSync(0, "utf8"));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sonde-chdb-"));
const session = new Session(dir);
const out = { results: [] };
try {
  out.version = session.query("SELECT version()", "TSV").trim();
  for (const sql of job.setup) {
    try {
      session.query(sql, "TSV");
    } catch (e) {
      out.setupError = `${e.message} (in: ${sql.slice(0, 300)})`;
      break;
    }
  }
  if (!out.setupError) {
    for (const sql of job.queries) {
      try {
        out.results.push({ data: JSON.parse(session.query(sql, "JSONCompact")).data });
      } catch (e) {
        out.results.push({ error: e.message });
      }
    }
  }
} finally {
  session.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(out));
