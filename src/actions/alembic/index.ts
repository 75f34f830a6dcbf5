// Actions of this area, one file each; add yours to the list.
import type { Action } from '../../core/action.js';
import classify from './classify.js';
import fixReservedAttr from './fix-reserved-attr.js';
import fixAsyncEnv from './fix-async-env.js';
import fixModelImports from './fix-model-imports.js';
import waitForDb from './wait-for-db.js';
import verify from './verify.js';
import commitMessage from './commit-message.js';
import reproduce from './reproduce.js';

export const actions: Action[] = [classify, fixReservedAttr, fixAsyncEnv, fixModelImports, waitForDb, verify, commitMessage, reproduce];
