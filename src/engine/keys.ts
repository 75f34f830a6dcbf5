// Every Redis key runwright uses, in one place (P = the configured prefix). The run store (store.ts and its Lua
// scripts in lua/*.lua, which build the same names from the prefix) is the only reader and writer of these keys;
// other modules ask the store, or at most take a name from here (test/engine/keys.test.ts checks).
//
//   P:run:<id>            hash: meta (JSON), status, cursor, currentStep, s:<step> (StepState JSON), v:<step>,
//                         ws (the run's workspace manifest, src/core/workspace.ts), stickyJob (the BullMQ job running
//                         the run's steps one after another, sticky execution) ...
//   P:run:<id>:ev         stream of StepEvents (field e = JSON)
//   P:idx:all / P:idx:status:<s> / P:idx:runbook:<rb> / P:idx:target:<t>   zsets scored by createdAt ms
//   P:lock:<target>       run id holding the target;  P:lockq:<target>  runs waiting for it (list)
//   P:fp:<runbook>:<sha1(fingerprint)>  active run for a fingerprint (dedup); P:thr:<...> throttle window
//   P:rb:<hash>           runbook source by content hash (a run always executes the runbook it started with)
//   P:worker:<id>         heartbeat of a worker process (expires)
//   P:events (pub/sub)    every event, "<streamId> <json>";  P:events:run  the run-level ones (kind "run") only, an alert attaching excepted
//   P:q:steps:*           BullMQ's keys for the step queue (BullMQ names them under the prefix P:q)
//   (not the store's: P:session:*, P:authfail:*, P:intake-rate:*, P:intake, P:slack:* — the API's and Slack's own
//   data, named where it is kept)
import { createHash } from 'node:crypto';

/** The BullMQ queue that carries step jobs. */
export const QUEUE = 'steps';

const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');

/** Key builders for one prefix. */
export function keysFor(prefix: string) {
  const k = (...parts: string[]) => [prefix, ...parts].join(':');
  return {
    prefix,
    run: (id: string) => k('run', id),
    events: (id: string) => k('run', id, 'ev'),
    /** Pub/sub channel of every event of every run. */
    eventsChannel: () => k('events'),
    /** Pub/sub channel of the run-level events only (created, lock acquired, ended, cancelled). */
    runEventsChannel: () => k('events', 'run'),
    all: () => k('idx', 'all'),
    byStatus: (status: string) => k('idx', 'status', status),
    byRunbook: (runbookId: string) => k('idx', 'runbook', runbookId),
    byTarget: (target: string) => k('idx', 'target', target),
    lock: (target: string) => k('lock', target),
    lockQueue: (target: string) => k('lockq', target),
    fingerprint: (runbookId: string, fingerprint: string) => k('fp', runbookId, sha1(fingerprint)),
    throttle: (runbookId: string, fingerprint: string) => k('thr', runbookId, sha1(fingerprint)),
    runbookSource: (hash: string) => k('rb', hash),
    worker: (id: string) => k('worker', id),
    workerPattern: () => k('worker', '*'),
    /** BullMQ's prefix: its keys are `<bullPrefix>:<queue>:...`. */
    bullPrefix: () => k('q'),
    /** BullMQ's hash of one job of the step queue. */
    job: (jobId: string) => k('q', QUEUE, jobId),
  };
}

export type Keys = ReturnType<typeof keysFor>;
