// Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe (--remote-debugging-pipe: no
// port, no network): opens a page, collects every console error, uncaught exception and browser log error (a
// blocked load, a CSP violation), evaluates expressions in the page and takes a full-page screenshot.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

export const chromiumPath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));

interface Message {
    id?: number;
    method?: string;
    sessionId?: string;
    params?: Record<string, unknown>;
    result?: Record<string, unknown>;
    error?: { message: string };
}

export interface Rendered {
    errors: string[];
    values: unknown[];
    screenshot: Buffer;
}

/** Loads `url`, returns the console errors, the value of each expression in `evaluate`, and a PNG of the page (its top `maxHeight` pixels). */
export async function renderInChromium(url: string, evaluate: string[], width = 1200, maxHeight = 1600): Promise<Rendered> {
    if (!chromiumPath) throw new Error("chromium is not installed (scripts/debian-packages.sh installs it)");
    const profile = mkdtempSync(join(tmpdir(), "repave-chromium-"));
    // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
    const child = spawn(chromiumPath, ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe", `--user-data-dir=${profile}`, "about:blank"], {
        stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const toBrowser = child.stdio[3] as Writable;
    const fromBrowser = child.stdio[4] as Readable;
    let nextId = 1;
    const waiting = new Map<number, (m: Message) => void>();
    const listeners: Array<(m: Message) => void> = [];
    let buffer = "";
    fromBrowser.on("data", (d: Buffer) => {
        buffer += d.toString();
        let end;
        while ((end = buffer.indexOf("\0")) >= 0) {
            const message = JSON.parse(buffer.slice(0, end)) as Message;
            buffer = buffer.slice(end + 1);
            if (message.id !== undefined) waiting.get(message.id)?.(message);
            else listeners.forEach((l) => l(message));
        }
    });
    const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> =>
        new Promise((resolve, reject) => {
            const id = nextId++;
            const timer = setTimeout(() => reject(new Error(`chromium: no answer to ${method} in 30 s; stderr: ${stderr.slice(-500)}`)), 30_000);
            timer.unref();
            waiting.set(id, (m) => {
                clearTimeout(timer);
                waiting.delete(id);
                if (m.error) reject(new Error(`chromium: ${method}: ${m.error.message}`));
                else resolve(m.result ?? {});
            });
            toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
        });
    try {
        const { targetId } = (await send("Target.createTarget", { url: "about:blank" })) as { targetId: string };
        const { sessionId } = (await send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string };
        const errors: string[] = [];
        let loaded: () => void = () => undefined;
        const load = new Promise<void>((r) => (loaded = r));
        listeners.push((m) => {
            if (m.sessionId !== sessionId) return;
            const p = m.params ?? {};
            if (m.method === "Page.loadEventFired") loaded();
            if (m.method === "Runtime.exceptionThrown") errors.push(`exception: ${JSON.stringify(p["exceptionDetails"])}`);
            if (m.method === "Runtime.consoleAPICalled" && ["error", "assert"].includes(String(p["type"]))) errors.push(`console.${String(p["type"])}: ${JSON.stringify(p["args"])}`);
            if (m.method === "Log.entryAdded") {
                const entry = p["entry"] as { level: string; text: string; url?: string };
                if (entry.level === "error") errors.push(`log: ${entry.text} ${entry.url ?? ""}`);
            }
        });
        for (const domain of ["Page.enable", "Runtime.enable", "Log.enable"]) await send(domain, {}, sessionId);
        await send("Emulation.setDeviceMetricsOverride", { width, height: 800, deviceScaleFactor: 1, mobile: false }, sessionId);
        await send("Page.navigate", { url }, sessionId);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([load, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("chromium: the page did not load in 30 s")), 30_000)))]);
        clearTimeout(timer);
        await new Promise((r) => setTimeout(r, 300)); // late console messages
        const values: unknown[] = [];
        for (const expression of evaluate) {
            const r = (await send("Runtime.evaluate", { expression, returnByValue: true }, sessionId)) as { result: { value?: unknown }; exceptionDetails?: unknown };
            if (r.exceptionDetails) throw new Error(`chromium: ${expression}: ${JSON.stringify(r.exceptionDetails)}`);
            values.push(r.result.value);
        }
        const { cssContentSize } = (await send("Page.getLayoutMetrics", {}, sessionId)) as { cssContentSize: { height: number } };
        await send("Emulation.setDeviceMetricsOverride", { width, height: Math.min(maxHeight, Math.ceil(cssContentSize.height)), deviceScaleFactor: 1, mobile: false }, sessionId);
        const { data } = (await send("Page.captureScreenshot", { format: "png" }, sessionId)) as { data: string };
        return { errors, values, screenshot: Buffer.from(data, "base64") };
    } finally {
        if (child.exitCode === null) {
            const exited = new Promise((r) => child.once("exit", r));
            const kill = setTimeout(() => child.kill("SIGKILL"), 5_000); // a browser that ignores Browser.close
            void send("Browser.close").catch(() => undefined);
            await exited;
            clearTimeout(kill);
        }
        rmSync(profile, { recursive: true, force: true });
    }
}
