// Validates an AsyncAPI document with the official parser: node tests/asyncapi/validate.js < doc.json
// Prints every diagnostic as JSON ({severity, code, message, path}); exits 1 when one is an error.
const { Parser } = require("@asyncapi/parser");

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { document, diagnostics } = await new Parser().parse(Buffer.concat(chunks).toString("utf8"));
  const found = diagnostics.map((d) => ({ severity: ["error", "warning", "information", "hint"][d.severity],
                                           code: d.code, message: d.message, path: d.path.join("/") }));
  console.log(JSON.stringify({ parsed: Boolean(document), diagnostics: found }));
  process.exit(document && !found.some((d) => d.severity === "error") ? 0 : 1);
}

main().catch((error) => { console.error(error); process.exit(2); });
