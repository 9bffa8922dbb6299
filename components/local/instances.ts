// What a generation's supervisor (supervisor.ts) records in its folder's instances.json, and its restart budget:
// read by the changeover (is the generation running as it should? what to stop) and by tests.

export interface InstanceRecord {
    pid: number;
    /** The loopback port it listens on, once it said so (its port file). */
    port: number | null;
    restarts: number;
    gaveUp: boolean;
    startedAt: string;
}

export interface InstancesFile {
    supervisor: number;
    /** The instances' marker: what `stop` checks before it signals one of them. */
    marker: string;
    instances: InstanceRecord[];
}

/** Restarts within `restartWindowMs` beyond which an instance is given up on (a crash loop is not hidden). */
export const restartLimit = 5;
export const restartWindowMs = 60_000;
