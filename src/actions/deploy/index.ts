// Actions of this area, one file each; add yours to the list.
import type { Action } from '../../core/action.js';

export const actions: Action[] = [];
