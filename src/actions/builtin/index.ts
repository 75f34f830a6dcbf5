import type { Action } from '../../core/action.js';
import noop from './noop.js';
import fail from './fail.js';
import sleep from './sleep.js';
import flaky from './flaky.js';
import set from './set.js';

export const actions: Action[] = [noop, fail, sleep, flaky, set];
