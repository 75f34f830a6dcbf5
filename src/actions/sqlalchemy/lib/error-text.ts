// Reads what SQLAlchemy says about a failed mapper out of free text: an alert, a log entry, a traceback, a
// check's stderr. Pure TypeScript. The text is attacker-controlled: only the fixed patterns below are applied
// to it (none is built from it), captured names must be Python identifiers, and nothing here touches a file.

export type CauseKind =
  | 'missing_name' // expression 'X' failed to locate a name ('X')
  | 'no_property' // Mapper 'Mapper[User(users)]' has no property 'organization'
  | 'not_a_relationship' // back_populates ... refers to attribute ... that is not a relationship
  | 'reverse_property' // reverse_property 'x' on relationship A.b references relationship B.x, which does not reference mapper ...
  | 'table_attribute' // 'Table' object has no attribute 'organization_id' (foreign_keys="users.organization_id")
  | 'unknown_column' // Class <class 'app.models.user.User'> does not have a mapped column named 'org_id'
  | 'join_condition' // Could not determine join condition ... on relationship Post.author - there are multiple foreign key paths / no foreign keys
  | 'name_error' // NameError: name 'post_tag_table' is not defined (a lambda or a module-level name at import/configure)
  | 'no_primary_key' // Mapper ... could not assemble any primary key columns for mapped table 'tags'
  | 'ambiguous_name' // Multiple classes found for path "Event" in the registry of this declarative base
  | 'unknown';

export interface MapperRef {
  class: string;
  table: string | null;
  /** 1.4 says `mapped class Organization->organizations`, 2.x `Mapper[Organization(organizations)]` (null: named otherwise). */
  wording: '1.4' | '2.x' | null;
}

export interface Cause {
  kind: CauseKind;
  /** The class name SQLAlchemy could not locate (missing_name). */
  name?: string;
  /** The string expression it evaluated (missing_name), when it is plain Python-expression text. */
  expression?: string;
  /** Property/attribute involved (no_property, table_attribute, unknown_column, not_a_relationship). */
  attr?: string;
  /** Class owning `attr` (no_property: the mapper that lacks it; unknown_column: the class). */
  owner?: string;
  /** Relationship named by the error, as Class.attr (not_a_relationship, reverse_property, join_condition). */
  relationship?: string;
  /** join_condition: several foreign key paths (AmbiguousForeignKeysError) or none (NoForeignKeysError). */
  ambiguous?: boolean;
  /** no_primary_key: the table. */
  table?: string;
}

export interface ErrorReading {
  readable: boolean;
  /** The failing mapper: the cascade's triggering mapper, else the one being initialised. */
  mapper: MapperRef | null;
  form: 'first_use' | 'cascade' | 'both' | null;
  cause: Cause | null;
  version: '1.4' | '2.x' | null;
  /** Which known signatures were found. */
  signatures: string[];
  /** Captured values refused because they are not plain identifiers (hostile or mangled text). */
  refused: number;
  /** Length of the text actually read (very long texts are cut). */
  chars: number;
}

const MAX_TEXT = 256 * 1024;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const EXPRESSION_SAFE = /^[A-Za-z0-9_.,\[\]()\s=<>!'"+-]{1,200}$/;

// Mapper wordings: 2.x `Mapper[Organization(organizations)]`, 1.4 `mapped class Organization->organizations`.
// Groups: 1 = class (2.x), 2 = table (2.x), 3 = class (1.4), 4 = table (1.4).
const CASCADE =
  /One or more mappers failed to initialize\b.{0,200}?Triggering mapper: '(?:Mapper\[([A-Za-z_]\w*)\(([\w.]*)\)\]|mapped class ([A-Za-z_]\w*)->([\w.]+))'\.? ?Original exception was: (.{0,4000})/g;
const FIRST_USE =
  /When initializing mapper (?:Mapper\[([A-Za-z_]\w*)\(([\w.]*)\)\]|mapped class ([A-Za-z_]\w*)->([\w.]+)), expression '(.{0,400}?)' failed to locate a name \((?:'(.{0,200}?)'|"(.{0,200}?)")\)/;
const INITIALIZING = /When initializing mapper (?:Mapper\[([A-Za-z_]\w*)\(([\w.]*)\)\]|mapped class ([A-Za-z_]\w*)->([\w.]+))/;
const LOCATE = /expression '(.{0,400}?)' failed to locate a name \((?:'(.{0,200}?)'|"(.{0,200}?)")\)/;
// The name is repr()'d: a NameError message inside becomes "name 'X' is not defined" (in double quotes).
const NAME_ERROR = /^name '([A-Za-z_]\w*)' is not defined$/;

// A located name may be module-qualified ("app.models.billing.Invoice"): dotted identifiers only.
const DOTTED = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*){0,12}$/;

function locatedName(single: string | undefined, double: string | undefined): string | undefined {
  const raw = single ?? double ?? '';
  const m = NAME_ERROR.exec(raw);
  const name = m ? m[1]! : raw;
  return DOTTED.test(name) ? name : undefined;
}
const NO_PROPERTY = /Mapper '(?:Mapper\[([A-Za-z_]\w*)\(([\w.]*)\)\]|mapped class ([A-Za-z_]\w*)->([\w.]+))' has no property '([^']{0,200})'/;
const NOT_RELATIONSHIP = /back_populates on relationship '([^']{1,200})' refers to attribute '([^']{1,200})' that is not a relationship/;
const REVERSE = /reverse_property '([^']{1,200})' on relationship ([\w.]{1,200}) references relationship ([\w.]{1,200}), which does not reference mapper/;
const TABLE_ATTR = /'Table' object has no attribute '([^']{1,200})'/;
const UNKNOWN_COLUMN = /Class <class '([\w.]{1,300})'> does not have a mapped column named '([^']{1,200})'/;
// AmbiguousForeignKeysError / NoForeignKeysError (same wording on 1.4, 2.0 and 2.1)
const JOIN_CONDITION = /Could not determine join condition between parent\/child tables on relationship ([\w.]{1,300}) - there are (multiple foreign key paths|no foreign keys)/;
const MULTIPLE_CLASSES = /Multiple classes found for path "([^"]{1,300})" in the registry/;
const PY_NAME_ERROR = /NameError: name '([A-Za-z_]\w{0,200})' is not defined/;
const NO_PK = /Mapper '?(?:Mapper\[([A-Za-z_]\w*)\(([\w.]*)\)\]|mapped class ([A-Za-z_]\w*)->([\w.]+))'? could not assemble any primary key columns for mapped table '([^']{1,200})'/;

/** Every string found in JSON text (log entries, alert payloads), depth-limited; non-JSON lines kept. */
function flatten(text: string): string {
  const out: string[] = [];
  const collect = (v: unknown, depth: number): void => {
    if (depth > 12 || out.length > 5000) return;
    if (typeof v === 'string') {
      const t = v.trim();
      if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
        try {
          collect(JSON.parse(t), depth + 1);
          return;
        } catch {
          /* plain text that looks like JSON */
        }
      }
      out.push(v);
    } else if (Array.isArray(v)) v.forEach((x) => collect(x, depth + 1));
    else if (v && typeof v === 'object') Object.values(v).forEach((x) => collect(x, depth + 1));
  };
  const whole = text.trim();
  if (whole.startsWith('{') || whole.startsWith('[')) {
    try {
      collect(JSON.parse(whole), 0);
      return out.join('\n');
    } catch {
      /* maybe one JSON entry per line */
    }
  }
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('{')) {
      try {
        collect(JSON.parse(t), 0);
        continue;
      } catch {
        /* not JSON after all */
      }
    }
    out.push(line);
  }
  return out.join('\n');
}

function mapperFrom(m: RegExpExecArray | RegExpMatchArray, at: number): MapperRef | null {
  const cls2 = m[at];
  const cls14 = m[at + 2];
  if (cls2) return { class: cls2, table: m[at + 1] || null, wording: '2.x' };
  if (cls14) return { class: cls14, table: m[at + 3] || null, wording: '1.4' };
  return null;
}

/** Read one error message (e.g. the cascade's "Original exception was: ..."). */
function readCause(text: string, refuse: () => void): { cause: Cause | null; mapper: MapperRef | null; signatures: string[] } {
  const sig: string[] = [];
  let m: RegExpExecArray | null;
  if ((m = FIRST_USE.exec(text))) {
    sig.push('first_use');
    const mapper = mapperFrom(m, 1);
    const cause: Cause = { kind: 'missing_name' };
    // "Module 'models' has no mapped classes registered under the name 'customers'": the expression is the name
    const name = locatedName(m[6], m[7]) ?? (DOTTED.test(m[5]!) ? m[5]! : undefined);
    if (name) cause.name = name;
    else refuse();
    const expr = m[5]!;
    if (EXPRESSION_SAFE.test(expr)) cause.expression = expr;
    else refuse();
    return { cause, mapper, signatures: sig };
  }
  let mapper: MapperRef | null = null;
  if ((m = INITIALIZING.exec(text))) {
    sig.push('initializing');
    mapper = mapperFrom(m, 1);
  }
  if ((m = LOCATE.exec(text))) {
    sig.push('locate');
    const cause: Cause = { kind: 'missing_name' };
    const name = locatedName(m[2], m[3]) ?? (DOTTED.test(m[1]!) ? m[1]! : undefined);
    if (name) cause.name = name;
    else refuse();
    if (EXPRESSION_SAFE.test(m[1]!)) cause.expression = m[1]!;
    else refuse();
    return { cause, mapper, signatures: sig };
  }
  if ((m = NO_PROPERTY.exec(text))) {
    sig.push('no_property');
    const owner = mapperFrom(m, 1);
    const cause: Cause = { kind: 'no_property' };
    if (owner) cause.owner = owner.class;
    if (IDENT.test(m[5]!)) cause.attr = m[5]!;
    else refuse();
    return { cause, mapper, signatures: sig };
  }
  if ((m = NOT_RELATIONSHIP.exec(text))) {
    sig.push('not_a_relationship');
    const cause: Cause = { kind: 'not_a_relationship' };
    const rel = dotted(m[1]!);
    const attr = dotted(m[2]!);
    if (rel) cause.relationship = rel.join('.');
    else refuse();
    if (attr) {
      cause.owner = attr[0];
      cause.attr = attr[1];
    } else refuse();
    if (!mapper && rel) mapper = { class: rel[0]!, table: null, wording: null };
    return { cause, mapper, signatures: sig };
  }
  if ((m = REVERSE.exec(text))) {
    sig.push('reverse_property');
    const cause: Cause = { kind: 'reverse_property' };
    const rel = dotted(m[2]!);
    const other = dotted(m[3]!);
    if (rel) cause.relationship = rel.join('.');
    else refuse();
    if (other) {
      cause.owner = other[0];
      cause.attr = other[1];
    } else refuse();
    return { cause, mapper, signatures: sig };
  }
  if ((m = TABLE_ATTR.exec(text))) {
    sig.push('table_attribute');
    const cause: Cause = { kind: 'table_attribute' };
    if (IDENT.test(m[1]!)) cause.attr = m[1]!;
    else refuse();
    return { cause, mapper, signatures: sig };
  }
  if ((m = JOIN_CONDITION.exec(text))) {
    sig.push('join_condition');
    const cause: Cause = { kind: 'join_condition', ambiguous: m[2]!.startsWith('multiple') };
    const rel = dotted(m[1]!.split('.').slice(-2).join('.'));
    if (rel) cause.relationship = rel.join('.');
    else refuse();
    if (!mapper && rel) mapper = { class: rel[0]!, table: null, wording: null };
    return { cause, mapper, signatures: sig };
  }
  if ((m = NO_PK.exec(text))) {
    sig.push('no_primary_key');
    const cause: Cause = { kind: 'no_primary_key' };
    if (IDENT.test(m[5]!)) cause.table = m[5]!;
    return { cause, mapper: mapper ?? mapperFrom(m, 1), signatures: sig };
  }
  if ((m = UNKNOWN_COLUMN.exec(text))) {
    sig.push('unknown_column');
    const cause: Cause = { kind: 'unknown_column' };
    const cls = m[1]!.split('.').pop()!;
    if (IDENT.test(cls)) cause.owner = cls;
    else refuse();
    if (IDENT.test(m[2]!)) cause.attr = m[2]!;
    else refuse();
    return { cause, mapper, signatures: sig };
  }
  if ((m = MULTIPLE_CLASSES.exec(text))) {
    sig.push('ambiguous_name');
    const cause: Cause = { kind: 'ambiguous_name' };
    if (DOTTED.test(m[1]!)) cause.name = m[1]!;
    else refuse();
    return { cause, mapper, signatures: sig };
  }
  if ((m = PY_NAME_ERROR.exec(text))) {
    sig.push('name_error');
    return { cause: { kind: 'name_error', name: m[1]! }, mapper, signatures: sig };
  }
  return { cause: null, mapper, signatures: sig };
}

function dotted(s: string): [string, string] | null {
  const parts = s.split('.');
  if (parts.length !== 2 || !parts.every((p) => IDENT.test(p))) return null;
  return [parts[0]!, parts[1]!];
}

/**
 * Identify the failing mapper and the cause in any text that carries SQLAlchemy's words: first-use
 * ("When initializing mapper ...") and cascade ("One or more mappers failed to initialize ... Triggering
 * mapper: ... Original exception was: ...") forms, both wordings, inside tracebacks, JSON log entries or
 * wrapped over several lines.
 */
export function readSqlalchemyError(input: string): ErrorReading {
  const raw = typeof input === 'string' ? input.slice(0, MAX_TEXT) : '';
  // JSON payloads → their strings; then every run of whitespace (wrapped lines, \n in tracebacks) → one space.
  const text = flatten(raw).replace(/\\n/g, ' ').replace(/\s+/g, ' ');
  let refused = 0;
  const refuse = () => {
    refused++;
  };
  const signatures: string[] = [];
  let mapper: MapperRef | null = null;
  let cause: Cause | null = null;
  let form: ErrorReading['form'] = null;

  // The cascade names the triggering mapper; its "Original exception" is the first-use error.
  // A hostile text may carry a cascade with a mangled mapper before a real one: take the first that reads.
  let cascades = 0;
  for (const cm of text.matchAll(CASCADE)) {
    if (++cascades > 50) break;
    const mm = mapperFrom(cm, 1);
    if (!mm) continue;
    signatures.push('cascade');
    mapper = mm;
    form = 'cascade';
    const inner = readCause(cm[5]!, refuse);
    signatures.push(...inner.signatures);
    cause = inner.cause;
    break;
  }
  // Anywhere in the text (the first-use form, or the cause when the cascade did not carry one).
  const first = readCause(text, refuse);
  if (first.signatures.length) {
    for (const s of first.signatures) if (!signatures.includes(s)) signatures.push(s);
    if (first.signatures.includes('first_use') || first.signatures.includes('initializing')) form = form === 'cascade' ? 'both' : 'first_use';
    if (!mapper) mapper = first.mapper;
    if (!cause) cause = first.cause;
  }
  const version = mapper?.wording ?? null;
  return { readable: signatures.length > 0 && (mapper !== null || cause !== null), mapper, form, cause, version, signatures, refused, chars: raw.length };
}
