// The app contract every target relies on, checked on the sample API as the cloud targets run it (REPAVE_DOMAINS
// set): the health path answers whatever the Host - an ALB health check sends the target's address, a kubelet the
// pod IP - while every other path refuses a Host the API does not serve (421) and then asks for the credential.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const CREDENTIAL = "contract-credential";

function get(port: number, path: string, host: string, credential?: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const headers: Record<string, string> = { host, ...(credential ? { authorization: `Bearer ${credential}` } : {}) };
        request({ host: "127.0.0.1", port, path, headers }, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
        })
            .on("error", reject)
            .end();
    });
}

for (const version of ["1.0.0", "1.1.0"]) {
    describe(`the sample API ${version} keeps the app contract`, () => {
        let dir: string;
        let app: ChildProcess;
        let port = 0;
        before(async () => {
            dir = mkdtempSync(join(tmpdir(), "repave-contract-"));
            const portFile = join(dir, "port");
            const server = fileURLToPath(new URL(`../../../images/sample-api/${version}/server.mjs`, import.meta.url));
            app = spawn(process.execPath, [server], {
                env: { REPAVE_CREDENTIAL: CREDENTIAL, REPAVE_DOMAINS: "api.example.com,*.api.example.com", REPAVE_PORT_FILE: portFile },
                stdio: "ignore",
            });
            for (let i = 0; i < 100 && !existsSync(portFile); i++) await new Promise((r) => setTimeout(r, 50));
            port = Number(readFileSync(portFile, "utf8"));
        });
        after(() => {
            app.kill();
            rmSync(dir, { recursive: true, force: true });
        });

        it("answers the health path for any Host, without a credential (load balancers probe by address)", async () => {
            assert.equal(await get(port, "/healthz", "10.0.1.17:8080"), 200);
            assert.equal(await get(port, "/healthz", "api.example.com"), 200);
        });

        it("refuses a Host it does not serve with 421 on every other path, before asking for the credential", async () => {
            assert.equal(await get(port, "/v1/hello", "10.0.1.17:8080", CREDENTIAL), 421);
            assert.equal(await get(port, "/v1/hello", "evil.example.net"), 421);
            assert.equal(await get(port, "/v1/hello", "deep.www.api.example.com", CREDENTIAL), 421, "a wildcard covers one label");
        });

        it("serves its names, a wildcard's one label included, with the credential", async () => {
            assert.equal(await get(port, "/v1/hello", "api.example.com:443", CREDENTIAL), 200);
            assert.equal(await get(port, "/v1/hello", "www.api.example.com", CREDENTIAL), 200);
            assert.equal(await get(port, "/v1/hello", "api.example.com"), 401);
        });
    });
}
