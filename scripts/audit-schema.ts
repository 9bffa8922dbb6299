// Writes docs/audit-event.schema.json from the zod schema in cli/audit.ts (the one definition): a SIEM or a test
// in another language validates repave's audit events against it. `node scripts/audit-schema.ts --check` fails
// when the committed file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { auditEventSchema } from "../cli/audit.ts";

const file = join(import.meta.dirname, "..", "docs", "audit-event.schema.json");
const text = `${JSON.stringify({ $id: "https://repave.invalid/schemas/audit-event.v2.json", title: "repave audit event (repave.audit/v2)", ...z.toJSONSchema(auditEventSchema) }, null, 2)}\n`;
if (process.argv.includes("--check")) {
    if (readFileSync(file, "utf8") !== text) {
        console.error(`${file} is stale: run node scripts/audit-schema.ts`);
        process.exit(1);
    }
} else {
    writeFileSync(file, text);
}
