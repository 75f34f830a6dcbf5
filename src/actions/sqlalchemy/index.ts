// Actions of this area, one file each; add yours to the list.
import type { Action } from '../../core/action.js';
import identify from './identify.js';
import confirm from './confirm.js';
import inspect from './inspect.js';
import planFix from './plan-fix.js';
import applyFix from './apply-fix.js';
import preflight from './preflight.js';
import escalation from './escalation.js';

export const actions: Action[] = [identify, confirm, inspect, planFix, applyFix, preflight, escalation];
