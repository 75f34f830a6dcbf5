// Step outputs made readable: recognised by their shape (so they work for the real actions and for any runbook
// that produces the same fields), with everything else as a key/value list and the raw JSON one click away.
import type { Json, RunLink } from './api.js';
import { h } from './dom.js';

type Obj = Record<string, Json>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);

export function jsonBlock(v: unknown, label = 'Raw JSON'): HTMLElement {
  return h('details', { class: 'raw' }, h('summary', null, label), h('pre', { class: 'code', tabindex: 0 }, JSON.stringify(v, null, 2)));
}

// ---------------------------------------------------------------- unified diff

interface DiffRow {
  kind: 'file' | 'hunk' | 'add' | 'del' | 'ctx' | 'meta';
  text: string;
  old?: number;
  new?: number;
}

export function parseDiff(diff: string): DiffRow[] {
  const rows: DiffRow[] = [];
  let o = 0;
  let n = 0;
  let inHunk = false;
  for (const line of diff.replace(/\n$/, '').split('\n')) {
    if (line.startsWith('diff --git ') || (!inHunk && (line.startsWith('--- ') || line.startsWith('+++ ')))) {
      inHunk = false;
      if (line.startsWith('+++ ')) rows.push({ kind: 'file', text: line.slice(4).replace(/^b\//, '') });
      else if (line.startsWith('diff --git ')) continue;
      else if (line.startsWith('--- ') && line.slice(4) === '/dev/null') rows.push({ kind: 'meta', text: 'new file' });
      continue;
    }
    const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/.exec(line);
    if (m) {
      o = Number(m[1]);
      n = Number(m[2]);
      inHunk = true;
      rows.push({ kind: 'hunk', text: line });
      continue;
    }
    if (!inHunk) {
      rows.push({ kind: 'meta', text: line });
      continue;
    }
    if (line.startsWith('+')) rows.push({ kind: 'add', text: line.slice(1), new: n++ });
    else if (line.startsWith('-')) rows.push({ kind: 'del', text: line.slice(1), old: o++ });
    else if (line.startsWith('\\')) rows.push({ kind: 'meta', text: line });
    else rows.push({ kind: 'ctx', text: line.slice(1), old: o++, new: n++ });
  }
  return rows;
}

export function renderDiff(diff: string, title = 'Code diff'): HTMLElement {
  const rows = parseDiff(diff);
  const adds = rows.filter((r) => r.kind === 'add').length;
  const dels = rows.filter((r) => r.kind === 'del').length;
  const files = rows.filter((r) => r.kind === 'file').length;
  const sign = { add: '+', del: '−', ctx: ' ', hunk: '', file: '', meta: '' } as const;
  const table = h(
    'table',
    { class: 'diff' },
    h('caption', { class: 'sr-only' }, `${title}: ${files} file(s), ${adds} added and ${dels} removed lines`),
    h('tbody', null, ...rows.map((r) =>
      r.kind === 'file'
        ? h('tr', { class: 'd-file' }, h('th', { colspan: 3, scope: 'rowgroup' }, r.text))
        : r.kind === 'hunk' || r.kind === 'meta'
          ? h('tr', { class: `d-${r.kind}` }, h('td', { class: 'ln', 'aria-hidden': 'true' }), h('td', { class: 'ln', 'aria-hidden': 'true' }), h('td', { class: 'src' }, r.text))
          : h(
              'tr',
              { class: `d-${r.kind}` },
              h('td', { class: 'ln' }, r.old ?? ''),
              h('td', { class: 'ln' }, r.new ?? ''),
              h('td', { class: 'src' }, h('span', { class: 'sign', 'aria-label': r.kind === 'add' ? 'added' : r.kind === 'del' ? 'removed' : undefined }, sign[r.kind]), r.text),
            ),
    )),
  );
  return h('figure', { class: 'diff-view' }, h('figcaption', null, h('strong', null, title), h('span', { class: 'diffstat' }, h('span', { class: 'plus' }, `+${adds}`), ' ', h('span', { class: 'minus' }, `−${dels}`))), h('div', { class: 'scroll-x', tabindex: 0, role: 'region', 'aria-label': title }, table));
}

// ---------------------------------------------------------------- recognised shapes

function verdictBadge(v: string): HTMLElement {
  const cls = v === 'ok' ? 'ok' : v === 'broken' ? 'bad' : 'warn';
  return h('span', { class: `verdict ${cls}` }, v === 'ok' ? '✓ ok' : v === 'broken' ? '✕ broken' : v.replace(/_/g, ' '));
}

function relationshipsTable(rels: Obj[]): HTMLElement {
  return h(
    'div',
    { class: 'scroll-x', tabindex: 0, role: 'region', 'aria-label': 'Relationships found' },
    h(
      'table',
      { class: 'data' },
      h('caption', null, `Relationships found (${rels.length})`),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Relationship'), h('th', { scope: 'col' }, 'Points at'), h('th', { scope: 'col' }, 'Verdict'), h('th', { scope: 'col' }, 'Where'), h('th', { scope: 'col' }, 'Problems'))),
      h('tbody', null, ...rels.map((r) =>
        h(
          'tr',
          { class: r.verdict === 'broken' ? 'row-bad' : '' },
          h('td', null, h('code', null, String(r.relationship ?? (r.class && r.attr ? `${r.class}.${r.attr}` : '')))),
          h('td', null, h('code', null, String(r.target ?? '—'))),
          h('td', null, verdictBadge(String(r.verdict ?? ''))),
          h('td', null, h('code', null, `${String(r.path ?? '')}${r.line ? `:${String(r.line)}` : ''}`)),
          h('td', null, Array.isArray(r.problems) && r.problems.length ? r.problems.map(String).join('; ') : '—'),
        ),
      )),
    ),
  );
}

function planView(o: Obj): HTMLElement {
  const options = isObj(o.options) ? o.options : {};
  const chosen = typeof o.fix === 'string' ? o.fix : null;
  return h(
    'div',
    { class: 'plan' },
    h('p', { class: 'plan-choice' }, chosen ? h('span', null, 'Chosen fix ', h('strong', { class: 'fix-letter' }, chosen)) : h('strong', null, 'No fix applies'), o.needsPerson === true ? h('span', { class: 'pill warn' }, 'needs a person') : null),
    typeof o.reason === 'string' ? h('p', { class: 'muted' }, o.reason) : null,
    Object.keys(options).length
      ? h(
          'table',
          { class: 'data' },
          h('caption', null, 'Fixes considered'),
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Fix'), h('th', { scope: 'col' }, 'Applies'), h('th', { scope: 'col' }, 'What it would do / why not'))),
          h('tbody', null, ...Object.entries(options).map(([k, v]) => {
            const opt = isObj(v) ? v : {};
            const what = Array.isArray(opt.summary) && opt.summary.length ? opt.summary.map(String).join('; ') : typeof opt.why === 'string' ? opt.why : '';
            return h('tr', { class: k === chosen ? 'row-chosen' : '' }, h('th', { scope: 'row' }, k, k === chosen ? ' (chosen)' : ''), h('td', null, opt.applicable === true ? verdictBadge('ok') : h('span', { class: 'verdict warn' }, 'no')), h('td', null, what));
          })),
        )
      : null,
  );
}

function logEntries(entries: Obj[]): HTMLElement {
  return h(
    'table',
    { class: 'data logs' },
    h('caption', null, `Matching log entries (${entries.length})`),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Time'), h('th', { scope: 'col' }, 'Severity'), h('th', { scope: 'col' }, 'Text'))),
    h('tbody', null, ...entries.map((e) => h('tr', null, h('td', null, String(e.timestamp ?? '')), h('td', null, String(e.severity ?? '')), h('td', null, h('code', null, String(e.text ?? '')))))),
  );
}

function linkList(links: RunLink[]): HTMLElement {
  return h(
    'ul',
    { class: 'links' },
    ...links.map((l) => h('li', { class: `link-${l.kind}` }, h('span', { class: 'link-label' }, `${l.label}: `), l.href ? h('a', { href: l.href, target: '_blank', rel: 'noopener noreferrer' }, l.text) : h('code', null, l.text))),
  );
}

function scalar(v: Json): string | null {
  if (v === null) return 'null';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number') && v.length <= 12) return v.join(', ');
  return null;
}

/** Everything worth reading in one step output. */
export function renderOutput(output: Json | undefined, links: RunLink[]): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (links.length) out.push(linkList(links));
  if (output === undefined) return out;
  if (!isObj(output)) {
    out.push(h('pre', { class: 'code' }, typeof output === 'string' ? output : JSON.stringify(output, null, 2)));
    return out;
  }
  const used = new Set<string>();
  const o = output;
  if (Array.isArray(o.summary) && o.summary.length && o.summary.every((x) => typeof x === 'string')) {
    out.push(h('ul', { class: 'summary' }, ...o.summary.map((x) => h('li', null, String(x)))));
    used.add('summary');
  } else if (typeof o.summary === 'string') {
    out.push(h('p', { class: 'summary' }, o.summary));
    used.add('summary');
  }
  if (isObj(o.options) && 'fix' in o) {
    out.push(planView(o));
    for (const k of ['options', 'fix', 'reason', 'needsPerson']) used.add(k);
  }
  if (Array.isArray(o.relationships) && o.relationships.some((r) => isObj(r) && 'verdict' in r)) {
    out.push(relationshipsTable(o.relationships.filter(isObj)));
    used.add('relationships');
  }
  if (Array.isArray(o.entries) && o.entries.length && o.entries.every(isObj)) {
    out.push(logEntries(o.entries as Obj[]));
    used.add('entries');
  }
  const diffs: [string, string][] = [];
  if (typeof o.diff === 'string' && o.diff.trim()) diffs.push(['Code diff', o.diff]);
  if (isObj(o.proposal) && typeof o.proposal.diff === 'string') diffs.push(['Proposed diff', o.proposal.diff]);
  for (const [t, d] of diffs) out.push(renderDiff(d, t));
  if (diffs.length) used.add('diff');
  // The rest: short scalars as a definition list (long text as a block).
  const rows: HTMLElement[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (used.has(k)) continue;
    const text = scalar(v);
    if (text === null) continue;
    rows.push(h('dt', null, k), h('dd', null, text.length > 200 || text.includes('\n') ? h('pre', { class: 'code small' }, text) : text));
  }
  if (rows.length) out.push(h('dl', { class: 'kv' }, ...rows));
  out.push(jsonBlock(o, 'Raw output (JSON)'));
  return out;
}

/** Findings/proposal of an approval (strings, or objects with a diff). */
export function renderApprovalExtra(title: string, v: Json | undefined): HTMLElement | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v === 'string') return h('div', { class: 'approval-extra' }, h('h3', null, title), h('pre', { class: 'code wrap' }, v));
  if (isObj(v)) {
    const parts: HTMLElement[] = [];
    if (typeof v.description === 'string') parts.push(h('p', null, v.description));
    if (typeof v.fix === 'string') parts.push(h('p', null, 'Fix ', h('strong', { class: 'fix-letter' }, v.fix)));
    const rest = Object.entries(v).filter(([k]) => !['description', 'fix', 'diff'].includes(k));
    if (rest.length) parts.push(h('dl', { class: 'kv' }, ...rest.flatMap(([k, x]) => [h('dt', null, k), h('dd', null, scalar(x) ?? JSON.stringify(x))])));
    if (typeof v.diff === 'string' && v.diff.trim()) parts.push(renderDiff(v.diff, 'Proposed diff'));
    return h('div', { class: 'approval-extra' }, h('h3', null, title), ...parts);
  }
  return h('div', { class: 'approval-extra' }, h('h3', null, title), h('pre', { class: 'code' }, JSON.stringify(v, null, 2)));
}
