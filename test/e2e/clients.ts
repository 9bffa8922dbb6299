// A client as real callers write them: one keep-alive agent (TLS verified against the API's CA, SNI and Host the
// API's name), sequential requests, and a credential it changes only when told (after a repave finished).
import * as https from "node:https";

export interface ClientReport {
    requests: number;
    ok: number;
    failed: number;
    /** The first few failures, by kind (status or error code): never a credential. */
    failures: string[];
    generations: string[];
    /** Connections the agent opened (a keep-alive client reconnects when a draining pod says Connection: close). */
    connections: number;
}

export function keepAliveClient(port: number, caPem: string, initial: string, host = "127.0.0.1") {
    let credential = initial;
    let running = true;
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: caPem, servername: "localhost" });
    const report: ClientReport = { requests: 0, ok: 0, failed: 0, failures: [], generations: [], connections: 0 };
    agent.on("free", () => undefined);
    const one = () =>
        new Promise<void>((resolve) => {
            const req = https.request({ host, port, path: "/v1/hello", agent, servername: "localhost", headers: { host: "localhost", authorization: `Bearer ${credential}` } }, (res) => {
                let body = "";
                res.on("data", (d: Buffer) => (body += d.toString()));
                res.on("end", () => {
                    report.requests++;
                    if (res.statusCode === 200) {
                        report.ok++;
                        const generation = String((JSON.parse(body) as { generation?: string }).generation);
                        if (report.generations.at(-1) !== generation) report.generations.push(generation);
                    } else {
                        report.failed++;
                        if (report.failures.length < 10) report.failures.push(`HTTP ${res.statusCode}`);
                    }
                    resolve();
                });
                res.on("error", (err: NodeJS.ErrnoException) => fail(err));
            });
            const fail = (err: NodeJS.ErrnoException) => {
                report.requests++;
                report.failed++;
                if (report.failures.length < 10) report.failures.push(err.code ?? err.message);
                resolve();
            };
            req.on("socket", (socket) => {
                if (!(socket as unknown as { repaveCounted?: boolean }).repaveCounted) {
                    (socket as unknown as { repaveCounted?: boolean }).repaveCounted = true;
                    report.connections++;
                }
            });
            req.on("error", fail);
            req.setTimeout(10_000, () => req.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
            req.end();
        });
    const loop = (async () => {
        while (running) {
            await one();
            await new Promise((r) => setTimeout(r, 20));
        }
    })();
    return {
        setCredential: (next: string) => (credential = next),
        report: () => ({ ...report, failures: [...report.failures], generations: [...report.generations] }),
        stop: async () => {
            running = false;
            await loop;
            agent.destroy();
            return { ...report };
        },
    };
}
