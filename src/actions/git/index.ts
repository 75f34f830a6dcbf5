// Actions of this area, one file each; add yours to the list.
import type { Action } from '../../core/action.js';
import checkout from './checkout.js';
import commit from './commit.js';
import push from './push.js';

export const actions: Action[] = [checkout, commit, push];
