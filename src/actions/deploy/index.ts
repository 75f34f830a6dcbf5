// Actions of this area, one file each; add yours to the list.
import type { Action } from '../../core/action.js';
import push from './push.js';
import build from './build.js';
import job from './job.js';
import verifyLogs from './verify-logs.js';
import rollback from './rollback.js';

export const actions: Action[] = [push, build, job, verifyLogs, rollback];
