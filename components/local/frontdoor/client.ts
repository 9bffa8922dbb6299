// Admin client of the local front door. The admin port is read from the daemon's own info file on every call,
// so a restarted front door (repair) is found again without any state change.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FrontDoorState, RouteName, RouteSpec } from "./daemon.ts";

export type { FrontDoorState, RouteName, RouteSpec };

export interface FrontDoorInfo {
    pid: number;
    adminPort: number;
    startedAt: string;
}

export function readInfo(stateDir: string): FrontDoorInfo | undefined {
    const file = join(stateDir, "frontdoor.json");
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as FrontDoorInfo) : undefined;
}

export class FrontDoorClient {
    readonly stateDir: string;
    private readonly token: string;

    constructor(stateDir: string, token: string) {
        this.stateDir = stateDir;
        this.token = token;
    }

    private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
        const info = readInfo(this.stateDir);
        if (!info) throw new Error(`the front door in ${this.stateDir} is not running (hint: \`pulumi refresh\` then \`pulumi up\` restarts it)`);
        const res = await fetch(`http://127.0.0.1:${info.adminPort}${path}`, {
            method,
            headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(10_000),
        });
        const text = await res.text();
        if (!res.ok) throw new Error(`front door ${method} ${path}: ${res.status} ${text}`);
        return JSON.parse(text) as T;
    }

    state(): Promise<FrontDoorState> {
        return this.call("GET", "/state");
    }

    setRoute(name: RouteName, spec: RouteSpec): Promise<FrontDoorState> {
        return this.call("PUT", `/routes/${name}`, spec);
    }

    clearRoute(name: RouteName): Promise<FrontDoorState> {
        return this.call("DELETE", `/routes/${name}`);
    }
}
