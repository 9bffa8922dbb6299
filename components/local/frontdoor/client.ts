// Admin client of the local front door. It talks to the daemon's Unix socket in the 0700 state folder, whose path
// it reads from the daemon's own info file on every call, so a restarted front door (repair) is found again
// without any state change - and a dead one is told apart from one that does not answer.
import { existsSync, readFileSync } from "node:fs";
import * as http from "node:http";
import { join } from "node:path";
import type { FrontDoorState, RouteName, RouteSpec } from "./daemon.ts";

export type { FrontDoorState, RouteName, RouteSpec };

export interface FrontDoorInfo {
    pid: number;
    adminSocket: string;
    startedAt: string;
}

export function readInfo(stateDir: string): FrontDoorInfo | undefined {
    const file = join(stateDir, "frontdoor.json");
    return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as FrontDoorInfo) : undefined;
}

/** The front door is not running: nothing routes through it (destroy, or a machine restart). */
export class FrontDoorGoneError extends Error {}

/** The front door runs but the call failed: its routing is unknown, so nothing may assume it. */
export class FrontDoorCallError extends Error {}

export class FrontDoorClient {
    readonly stateDir: string;
    private readonly token: string;
    private readonly alive: (pid: number) => boolean;

    /** `alive(pid)`: is that pid still this state folder's front door (the caller knows its process marker)? */
    constructor(stateDir: string, token: string, alive: (pid: number) => boolean = () => true) {
        this.stateDir = stateDir;
        this.token = token;
        this.alive = alive;
    }

    private call<T>(method: string, path: string, body?: unknown): Promise<T> {
        const info = readInfo(this.stateDir);
        // Gone means the daemon's process is gone. A missing or dead socket of a live daemon is a failed call.
        if (!info || !this.alive(info.pid)) {
            return Promise.reject(new FrontDoorGoneError(`the front door in ${this.stateDir} is not running (hint: \`pulumi refresh\` then \`pulumi up\` restarts it)`));
        }
        const payload = body === undefined ? undefined : JSON.stringify(body);
        return new Promise<T>((resolve, reject) => {
            const req = http.request(
                {
                    socketPath: info.adminSocket,
                    agent: false, // a connection per call: each one goes to the socket the daemon holds now
                    path,
                    method,
                    headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json", ...(payload ? { "content-length": Buffer.byteLength(payload) } : {}) },
                    timeout: 10_000,
                },
                (res) => {
                    let text = "";
                    res.setEncoding("utf8");
                    res.on("data", (c: string) => (text += c));
                    res.on("end", () => {
                        if ((res.statusCode ?? 500) >= 300) reject(new FrontDoorCallError(`front door ${method} ${path}: ${res.statusCode} ${text}`));
                        else resolve(JSON.parse(text) as T);
                    });
                },
            );
            req.on("timeout", () => req.destroy(new Error("timed out after 10 s")));
            req.on("error", (err) => reject(new FrontDoorCallError(`front door ${method} ${path}: ${err.message}`)));
            req.end(payload);
        });
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

    /** Makes `next` the admin token; the one this client holds stays valid until the next rotation. */
    rotateToken(next: string): Promise<{ rotated: boolean }> {
        return this.call("PUT", "/admin-token", { token: next });
    }
}
