// Shapes python/sqla_tool.py answers with (see its docstring).
export type FixKind = 'A' | 'B' | 'C';

export interface Problem {
  id: string;
  kind: string;
  class: string;
  attr: string;
  path: string;
  line: number;
  end_line: number;
  target: string | null;
  message: string;
  needs_person: boolean;
  repair: Record<string, unknown> | null;
  [k: string]: unknown;
}

export interface RelInfo {
  attr: string;
  class: string;
  path: string;
  line: number;
  end_line: number;
  target: string | null;
  target_from: string | null;
  collection: boolean | null;
  typed: boolean;
  back_populates: string | null;
  backref: string | null;
  foreign_keys: { kind: string; source: string } | null;
  call: string;
  source: string;
  active: boolean;
  verdict: 'ok' | 'broken' | 'not_loaded';
  problems: string[];
}

export interface ClassInfo {
  name: string;
  module: string;
  path: string;
  line: number;
  end_line: number;
  bases: string[];
  tablename: string | null;
  mapped: boolean;
  imported: boolean;
  columns: string[];
}

export interface Analysis {
  package: { dir: string; import_name: string; init: string | null };
  modules: { path: string; module: string; imported: boolean; syntax_error: string | null; imports: string[] }[];
  skipped: { path: string; reason: string }[];
  classes: ClassInfo[];
  relationships: RelInfo[];
  problems: Problem[];
}

export interface FixResult {
  fix: FixKind;
  dry_run: boolean;
  touched: string[];
  edits: Record<string, unknown>[];
  summary: string[];
  renamed: [string, string][];
  problems: Problem[];
  disabled?: string[];
  file?: string;
  renamed_to?: string;
  leftover_uses?: { path: string; line: number; name: string }[];
}

/**
 * A Python identifier as SQLAlchemy reports class and attribute names (PEP 3131: `Élève`, `école` are valid): a
 * letter or `_`, then letters, marks, digits and connectors. No dot, slash, quote or space can pass.
 */
export const PY_IDENT = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]{0,199}$/u;
