// The shapes scripts/sqla-sweep.ts runs: each a HEALTHY models package plus the mutation that breaks it (the same
// convention as test/fixtures/sqlalchemy/corpus.ts) and what an expert would want runwright to do.
import { BASES, CLASSIC_HEAD, FLASK_HEAD, TYPED_HEAD, initImports, type Flavor } from '../test/fixtures/sqlalchemy/corpus-parts.js';
import { ORG as CORPUS_ORG, USER, colliding, m2m, tree } from '../test/fixtures/sqlalchemy/corpus.js';

export type SweepAlert = 'plain' | 'cascade-only' | 'wrapped' | 'truncated' | 'text-entry' | 'pubsub-text' | 'stale' | 'other';

export interface SweepCase {
  name: string;
  flavor: Flavor;
  healthy: Record<string, string>;
  mutate: [string, string | null, string | null][];
  expect: 'pushed' | 'escalated' | 'stale' | 'not-this';
  /** The fix letter an expert would apply (pushed only). */
  fix?: 'A' | 'B' | 'C';
  mayLose?: string[];
  alert?: SweepAlert;
  otherAlert?: string;
  /** Repo-relative models folder (default backend/app/models) and the module the check imports. */
  modelsDir?: string;
  pkg?: string;
  /** A module the check (and the job) also imports. */
  checkImports?: string;
  /** A module only the job imports (the check does not). */
  jobImports?: string;
  /** Files outside the models folder (repo-relative). */
  outside?: Record<string, string>;
  /** Encode a models file's bytes (CRLF, tabs, BOM). */
  bytes?: (rel: string, text: string) => string | Buffer;
  versions?: string[];
}

// The corpus's Organization without its feature toggles (the sweep's packages have no FeatureToggle model).
const TOGGLES = '    feature_toggles = relationship("FeatureToggle", back_populates="organization", cascade="all, delete-orphan")\n';
if (!CORPUS_ORG.includes(TOGGLES)) throw new Error('sqla-sweep-cases: the corpus Organization no longer has the feature_toggles line the sweep drops');
const ORG = CORPUS_ORG.replace(TOGGLES, '');

function classic(extra: Record<string, string> = {}, pairs: [string, string][] = []): Record<string, string> {
  return { '__init__.py': initImports([['organization', 'Organization'], ['user', 'User'], ...pairs]), 'base.py': BASES.classic, 'organization.py': ORG, 'user.py': USER, ...extra };
}

// models split across sub-packages, re-exported by each __init__
function split(): Record<string, string> {
  return {
    '__init__.py': `from app.models.base import Base\nfrom app.models.core import Organization, User\nfrom app.models.billing import Invoice\n\n__all__ = ["Base", "Organization", "User", "Invoice"]\n`,
    'base.py': BASES.classic,
    'core/__init__.py': `from .organization import Organization\nfrom .user import User\n\n__all__ = ["Organization", "User"]\n`,
    'core/organization.py': ORG.replace('users = relationship("User", back_populates="organization")', 'users = relationship("User", back_populates="organization")\n    invoices = relationship("app.models.billing.invoice.Invoice", back_populates="organization")'),
    'core/user.py': USER,
    'billing/__init__.py': `from .invoice import Invoice\n`,
    'billing/invoice.py': `${CLASSIC_HEAD}

class Invoice(Base):
    __tablename__ = "invoices"

    id = Column(Integer, primary_key=True)
    organization_id = Column(Integer, ForeignKey("organizations.id"))

    organization = relationship("Organization", back_populates="invoices")
`,
  };
}

// an abstract base with a declared_attr relationship, inherited by two models
function abstract(): Record<string, string> {
  return {
    '__init__.py': initImports([['organization', 'Organization'], ['user', 'User'], ['notes', 'Note'], ['notes', 'Attachment']]),
    'base.py': BASES.classic,
    'organization.py': ORG,
    'user.py': USER,
    'notes.py': `from sqlalchemy import Column, ForeignKey, Integer, String
from sqlalchemy.orm import declared_attr, relationship

from app.models.base import Base


class OwnedBase(Base):
    __abstract__ = True

    id = Column(Integer, primary_key=True)

    @declared_attr
    def author_id(cls):
        return Column(Integer, ForeignKey("users.id"))

    @declared_attr
    def author(cls):
        return relationship("User")


class Note(OwnedBase):
    __tablename__ = "notes"

    text = Column(String(500), nullable=False, default="")


class Attachment(OwnedBase):
    __tablename__ = "attachments"

    path = Column(String(500), nullable=False, default="")
`,
  };
}

// registry.mapped decorator and map_imperatively; Base is a small shim the job and probes read
function registryStyle(): Record<string, string> {
  return {
    '__init__.py': `from app.models.base import Base, mapper_registry\nfrom app.models.library import Author, Book\nfrom app.models.shelf import Shelf, Slot\n\n__all__ = ["Base", "Author", "Book", "Shelf", "Slot"]\n`,
    'base.py': `from sqlalchemy.orm import registry

mapper_registry = registry()


class Base:
    registry = mapper_registry
    metadata = mapper_registry.metadata
`,
    'library.py': `from sqlalchemy import Column, ForeignKey, Integer, String
from sqlalchemy.orm import relationship

from app.models.base import mapper_registry


@mapper_registry.mapped
class Author:
    __tablename__ = "authors"

    id = Column(Integer, primary_key=True)
    name = Column(String(100))

    books = relationship("Book", back_populates="author")


@mapper_registry.mapped
class Book:
    __tablename__ = "books"

    id = Column(Integer, primary_key=True)
    author_id = Column(Integer, ForeignKey("authors.id"))

    author = relationship("Author", back_populates="books")
`,
    'shelf.py': `from sqlalchemy import Column, ForeignKey, Integer, Table
from sqlalchemy.orm import relationship

from app.models.base import mapper_registry

shelves = Table("shelves", mapper_registry.metadata, Column("id", Integer, primary_key=True))
slots = Table(
    "slots",
    mapper_registry.metadata,
    Column("id", Integer, primary_key=True),
    Column("shelf_id", Integer, ForeignKey("shelves.id")),
)


class Shelf:
    pass


class Slot:
    pass


mapper_registry.map_imperatively(Shelf, shelves, properties={"slots": relationship("Slot", back_populates="shelf")})
mapper_registry.map_imperatively(Slot, slots, properties={"shelf": relationship("Shelf", back_populates="slots")})
`,
  };
}

const FLASK_MODELS = `${FLASK_HEAD}

class Project(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False, default="")

    tasks = db.relationship("Task", backref="project", lazy=True)


class Task(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    project_id = db.Column(db.Integer, db.ForeignKey("project.id"))
    owner_id = db.Column(db.Integer, db.ForeignKey("person.id"))

    owner = db.relationship("Person", back_populates="tasks")


class Person(db.Model):
    id = db.Column(db.Integer, primary_key=True)

    tasks = db.relationship("Task", back_populates="owner")
`;

function flask(): Record<string, string> {
  return { '__init__.py': initImports([['project', 'Project'], ['project', 'Task'], ['project', 'Person']]), 'base.py': BASES.flask, 'project.py': FLASK_MODELS };
}

// primaryjoin as a lambda
function lambdas(): Record<string, string> {
  return classic(
    {
      'post.py': `from sqlalchemy import Boolean, Column, ForeignKey, Integer, and_
from sqlalchemy.orm import relationship

from app.models.base import Base


class Post(Base):
    __tablename__ = "posts"

    id = Column(Integer, primary_key=True)

    comments = relationship("Comment", primaryjoin=lambda: and_(Comment.post_id == Post.id, Comment.hidden == False), viewonly=True)


class Comment(Base):
    __tablename__ = "comments"

    id = Column(Integer, primary_key=True)
    post_id = Column(Integer, ForeignKey("posts.id"))
    hidden = Column(Boolean, default=False)
`,
    },
    [['post', 'Post'], ['post', 'Comment']],
  );
}

// 2.0 typed with the target inferred from the annotation
function typed(future: boolean, listStyle: 'List' | 'list'): Record<string, string> {
  const head = future ? `from __future__ import annotations\n\n${TYPED_HEAD}` : TYPED_HEAD;
  const q = (s: string) => (future ? s : `"${s}"`);
  return {
    '__init__.py': initImports([['shop', 'Shop'], ['shop', 'Product']]),
    'base.py': BASES.typed,
    'shop.py': `${head}

class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")

    products: Mapped[${listStyle}[${q('Product')}]] = relationship(back_populates="shop")


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[Optional[int]] = mapped_column(ForeignKey("shops.id"))

    shop: Mapped[Optional[${q('Shop')}]] = relationship(back_populates="products")
`,
  };
}

// one long file: 80 models, a typo in the last one
function longFile(): Record<string, string> {
  const parts = [CLASSIC_HEAD];
  for (let i = 0; i < 80; i++) {
    parts.push(`

class Thing${i}(Base):
    """Model number ${i}."""

    __tablename__ = "thing_${i}"

    id = Column(Integer, primary_key=True)
    organization_id = Column(Integer, ForeignKey("organizations.id"))
    label = Column(String(50), nullable=False, default="")

    organization = relationship("Organization")
`);
  }
  return classic({ 'things.py': parts.join('') }, [['things', 'Thing79']]);
}

const crlfTabs = (file: string, opts: { crlf?: boolean; tabs?: boolean; bom?: boolean }) => (rel: string, text: string) => {
  if (rel !== file) return text;
  let t = text;
  if (opts.tabs) t = t.replace(/^((?: {4})+)/gm, (m) => '\t'.repeat(m.length / 4));
  if (opts.crlf) t = t.replace(/\n/g, '\r\n');
  const b = Buffer.from(t, 'utf8');
  return opts.bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]) : b;
};

const BACKPOP = ['user.py', 'back_populates="users"', 'back_populates="user"'] as [string, string, string];

export function sweepCases(): SweepCase[] {
  return [
    // packages and names
    { name: 'split_pkg_reexport_typo', flavor: 'classic', healthy: split(), mutate: [['core/user.py', 'relationship("Organization"', 'relationship("Organisation"']], expect: 'pushed', fix: 'C' },
    { name: 'split_pkg_qualified_typo', flavor: 'classic', healthy: split(), mutate: [['core/organization.py', '"app.models.billing.invoice.Invoice"', '"app.models.billing.invoice.Invoce"']], expect: 'pushed', fix: 'C' },
    { name: 'split_pkg_qualified_pkg_path', flavor: 'classic', healthy: split(), mutate: [['core/organization.py', '"app.models.billing.invoice.Invoice"', '"app.models.billing.Invoice"']], expect: 'pushed', fix: 'C' },
    { name: 'split_pkg_not_reexported', flavor: 'classic', healthy: split(), mutate: [['billing/__init__.py', 'from .invoice import Invoice\n', ''], ['__init__.py', 'from app.models.billing import Invoice\n', ''], ['__init__.py', ', "Invoice"]', ']']], expect: 'pushed', fix: 'C' },
    { name: 'colliding_unqualified', flavor: 'classic', healthy: colliding(), mutate: [['organization.py', 'relationship("app.models.audit.Event")', 'relationship("Event")']], expect: 'pushed', fix: 'C' },
    { name: 'colliding_qualified_typo', flavor: 'classic', healthy: colliding(), mutate: [['user.py', '"app.models.calendar.Event"', '"app.models.calender.Event"']], expect: 'pushed', fix: 'C' },
    // mixins / abstract / registry styles
    { name: 'abstract_declared_attr_typo', flavor: 'classic', healthy: abstract(), mutate: [['notes.py', 'relationship("User")', 'relationship("Usr")']], expect: 'pushed', fix: 'C' },
    { name: 'registry_mapped_backpop', flavor: 'classic', healthy: registryStyle(), mutate: [['library.py', 'back_populates="books"', 'back_populates="book"']], expect: 'pushed', fix: 'C' },
    { name: 'imperative_typo', flavor: 'classic', healthy: registryStyle(), mutate: [['shelf.py', 'relationship("Slot", back_populates="shelf")', 'relationship("Slott", back_populates="shelf")']], expect: 'pushed', fix: 'C' },
    // Flask / backref
    { name: 'flask_backref_typo_target', flavor: 'flask', healthy: flask(), mutate: [['project.py', 'db.relationship("Task", backref="project", lazy=True)', 'db.relationship("Tsk", backref="project", lazy=True)']], expect: 'pushed', fix: 'C' },
    { name: 'flask_backref_conflict', flavor: 'flask', healthy: flask(), mutate: [['project.py', '    owner = db.relationship("Person", back_populates="tasks")\n', '    owner = db.relationship("Person", back_populates="tasks")\n    project = db.relationship("Project")\n']], expect: 'escalated' },
    { name: 'classic_backref_conflict_column', flavor: 'classic', healthy: classic(), mutate: [['organization.py', 'users = relationship("User", back_populates="organization")', 'users = relationship("User", backref="email")'], ['user.py', '    organization = relationship("Organization", back_populates="users")\n', '']], expect: 'escalated' },
    // secondary / self-referential / lambdas
    { name: 'secondary_other_module_typo', flavor: 'classic', healthy: m2m(), mutate: [['group.py', 'secondary="group_members"', 'secondary="group_member"']], expect: 'pushed', fix: 'C' },
    { name: 'secondary_module_not_imported', flavor: 'classic', healthy: m2m(), mutate: [['group.py', 'from app.models.tables import group_members\n', ''], ['group.py', 'secondary=group_members)', 'secondary="group_members")'], ['__init__.py', 'from app.models.tables import group_members\n', ''], ['__init__.py', ', "group_members"', '']], expect: 'pushed', fix: 'C' },
    { name: 'remote_side_typo', flavor: 'classic', healthy: tree(), mutate: [['node.py', 'remote_side="Node.id"', 'remote_side="Node.ID"']], expect: 'pushed', fix: 'C' },
    { name: 'self_ref_backpop_typo', flavor: 'classic', healthy: tree(), mutate: [['node.py', 'back_populates="children"', 'back_populates="childs"']], expect: 'pushed', fix: 'C' },
    { name: 'primaryjoin_lambda_typo', flavor: 'classic', healthy: lambdas(), mutate: [['post.py', 'Comment.hidden == False', 'Comment.hiden == False']], expect: 'escalated' }, // a lambda's body is code, not a string SQLAlchemy evaluates: escalating with the AttributeError is what an expert accepts
    // 2.0 typed
    { name: 'typed_List_str_typo', flavor: 'typed', healthy: typed(false, 'List'), mutate: [['shop.py', 'Mapped[List["Product"]]', 'Mapped[List["Prodct"]]']], expect: 'pushed', fix: 'C' },
    { name: 'typed_list_str_typo', flavor: 'typed', healthy: typed(false, 'list'), mutate: [['shop.py', 'Mapped[list["Product"]]', 'Mapped[list["Prodct"]]']], expect: 'pushed', fix: 'C' },
    { name: 'typed_future_list_typo', flavor: 'typed', healthy: typed(true, 'list'), mutate: [['shop.py', 'Mapped[list[Product]]', 'Mapped[list[Prodct]]']], expect: 'pushed', fix: 'C' },
    { name: 'typed_future_optional_backpop', flavor: 'typed', healthy: typed(true, 'list'), mutate: [['shop.py', 'back_populates="products"', 'back_populates="product"']], expect: 'pushed', fix: 'C' },
    // layouts
    { name: 'single_models_py', flavor: 'classic', healthy: { 'models.py': `${CLASSIC_HEAD.replace('from app.models.base import Base\n', 'from sqlalchemy.orm import declarative_base\n\nBase = declarative_base()\n')}\n${ORG.replace(CLASSIC_HEAD, '')}\n${USER.replace(CLASSIC_HEAD, '')}` }, mutate: [['models.py', 'relationship("User"', 'relationship("Usr"']], expect: 'pushed', fix: 'C', modelsDir: 'backend/app', pkg: 'app.models' },
    { name: 'modelsdir_named_db', flavor: 'classic', healthy: Object.fromEntries(Object.entries(classic()).map(([k, v]) => [k, v.replace(/app\.models/g, 'app.db')])), mutate: [BACKPOP], expect: 'pushed', fix: 'C', modelsDir: 'backend/app/db' },
    { name: 'long_file_typo', flavor: 'classic', healthy: longFile(), mutate: [['things.py', '    __tablename__ = "thing_79"\n\n    id = Column(Integer, primary_key=True)\n    organization_id = Column(Integer, ForeignKey("organizations.id"))\n    label = Column(String(50), nullable=False, default="")\n\n    organization = relationship("Organization")', '    __tablename__ = "thing_79"\n\n    id = Column(Integer, primary_key=True)\n    organization_id = Column(Integer, ForeignKey("organizations.id"))\n    label = Column(String(50), nullable=False, default="")\n\n    organization = relationship("Organizaton")']], expect: 'pushed', fix: 'C' },
    { name: 'unicode_before_edit', flavor: 'classic', healthy: classic({ 'user.py': USER.replace('organization = relationship("Organization", back_populates="users")', 'organization = relationship("Organization", info={"label": "Société — élève"}, back_populates="users")') }), mutate: [['user.py', 'back_populates="users"', 'back_populates="user"']], expect: 'pushed', fix: 'C' },
    { name: 'unicode_identifier_typo', flavor: 'classic', healthy: classic({ 'eleve.py': `${CLASSIC_HEAD}\n\nclass Élève(Base):\n    __tablename__ = "eleves"\n\n    id = Column(Integer, primary_key=True)\n    organization_id = Column(Integer, ForeignKey("organizations.id"))\n\n    école = relationship("Organization")\n` }, [['eleve', 'Élève']]), mutate: [['eleve.py', 'école = relationship("Organization")', 'école = relationship("Organizatin")']], expect: 'pushed', fix: 'C' },
    { name: 'crlf_tabs_typed_typo', flavor: 'typed', healthy: typed(false, 'List'), mutate: [['shop.py', 'Mapped[List["Product"]]', 'Mapped[List["Prodct"]]']], expect: 'pushed', fix: 'C', bytes: crlfTabs('shop.py', { crlf: true, tabs: true }) },
    // several breaks / unimported modules
    { name: 'two_files_two_breaks', flavor: 'classic', healthy: m2m(), mutate: [BACKPOP, ['group.py', 'secondary="group_members"', 'secondary="group_membrs"']], expect: 'pushed', fix: 'C' },
    { name: 'break_in_unimported_module', flavor: 'classic', healthy: classic({ 'legacy.py': `${CLASSIC_HEAD}\n\nclass Legacy(Base):\n    __tablename__ = "legacy"\n\n    id = Column(Integer, primary_key=True)\n    organization_id = Column(Integer, ForeignKey("organizations.id"))\n\n    organization = relationship("Organization")\n` }), mutate: [['legacy.py', 'relationship("Organization")', 'relationship("Organisation")']], expect: 'escalated', jobImports: 'app.models.legacy' },
    { name: 'missing_class_nowhere', flavor: 'classic', healthy: classic(), mutate: [['organization.py', '    users = relationship("User", back_populates="organization")\n', '    users = relationship("User", back_populates="organization")\n    subscriptions = relationship("BillingSubscription")\n']], expect: 'pushed', fix: 'A', mayLose: ['Organization.subscriptions'] },
    { name: 'fk_string_table_qualified', flavor: 'classic', healthy: classic(), mutate: [['organization.py', 'relationship("User", back_populates="organization")', 'relationship("User", back_populates="organization", foreign_keys="users.organization_id")']], expect: 'pushed', fix: 'C' },
    { name: 'fk_list_string_bad_attr', flavor: 'classic', healthy: classic(), mutate: [['user.py', 'relationship("Organization", back_populates="users")', 'relationship("Organization", back_populates="users", foreign_keys="[User.org_id]")']], expect: 'pushed', fix: 'C' },
    // more mixes
    { name: 'missing_plus_typo_two_files', flavor: 'classic', healthy: m2m(), mutate: [BACKPOP, ['group.py', '    admins = relationship("User", secondary="group_members", viewonly=True)\n', '    admins = relationship("User", secondary="group_members", viewonly=True)\n    budget = relationship("GroupBudget")\n']], expect: 'pushed', mayLose: ['Group.budget'] },
    { name: 'missing_class_from_two_models', flavor: 'classic', healthy: classic(), mutate: [['organization.py', '    users = relationship("User", back_populates="organization")\n', '    users = relationship("User", back_populates="organization")\n    plans = relationship("Plan")\n'], ['user.py', '    organization = relationship("Organization", back_populates="users")\n', '    organization = relationship("Organization", back_populates="users")\n    plan = relationship("Plan", uselist=False)\n']], expect: 'pushed', fix: 'A', mayLose: ['Organization.plans', 'User.plan'] },
    { name: 'duplicate_tablename', flavor: 'classic', healthy: tree(), mutate: [['node.py', '__tablename__ = "nodes"', '__tablename__ = "users"']], expect: 'escalated' },
    { name: 'backref_both_sides', flavor: 'classic', healthy: classic(), mutate: [['organization.py', 'relationship("User", back_populates="organization")', 'relationship("User", backref="organization")'], ['user.py', 'relationship("Organization", back_populates="users")', 'relationship("Organization", backref="users")']], expect: 'escalated' },
    { name: 'backpop_wrong_class_attr', flavor: 'classic', healthy: m2m(), mutate: [['user.py', 'back_populates="users"', 'back_populates="members"']], expect: 'pushed', fix: 'C' },
    { name: 'typed_not_imported', flavor: 'typed', healthy: { ...typed(false, 'List'), '__init__.py': initImports([['shop', 'Shop'], ['shop', 'Product'], ['review', 'Review']]), 'shop.py': typed(false, 'List')['shop.py']!.replace('    shop: Mapped[Optional["Shop"]]', '    reviews: Mapped[List["Review"]] = relationship()\n    shop: Mapped[Optional["Shop"]]'), 'review.py': `${TYPED_HEAD}\n\nclass Review(Base):\n    __tablename__ = "reviews"\n\n    id: Mapped[int] = mapped_column(primary_key=True)\n    product_id: Mapped[Optional[int]] = mapped_column(ForeignKey("products.id"))\n` }, mutate: [['__init__.py', 'from app.models.review import Review\n', ''], ['__init__.py', ', "Review"', '']], expect: 'pushed', fix: 'C' },
    { name: 'crlf_bom_fk_table_string', flavor: 'classic', healthy: classic(), mutate: [['organization.py', 'relationship("User", back_populates="organization")', 'relationship("User", back_populates="organization", foreign_keys="users.organization_id")']], expect: 'pushed', fix: 'C', bytes: crlfTabs('organization.py', { crlf: true, bom: true }) },
    { name: 'flask_backpop_typo_person', flavor: 'flask', healthy: flask(), mutate: [['project.py', 'db.relationship("Task", back_populates="owner")', 'db.relationship("Task", back_populates="ownr")']], expect: 'pushed', fix: 'C' },
    // alert shapes
    { name: 'alert_wrapped', flavor: 'classic', healthy: classic(), mutate: [BACKPOP], expect: 'pushed', fix: 'C', alert: 'wrapped' },
    { name: 'alert_truncated', flavor: 'classic', healthy: classic(), mutate: [BACKPOP], expect: 'pushed', fix: 'C', alert: 'truncated' },
    { name: 'alert_text_entry', flavor: 'classic', healthy: classic(), mutate: [BACKPOP], expect: 'pushed', fix: 'C', alert: 'text-entry' },
    { name: 'alert_pubsub_text', flavor: 'classic', healthy: classic(), mutate: [BACKPOP], expect: 'pushed', fix: 'C', alert: 'pubsub-text' },
    { name: 'alert_cascade_only', flavor: 'classic', healthy: classic(), mutate: [['organization.py', 'relationship("User"', 'relationship("Usr"']], expect: 'pushed', fix: 'C', alert: 'cascade-only' },
    { name: 'stale_alert_healthy_repo', flavor: 'classic', healthy: classic(), mutate: [BACKPOP], expect: 'stale', alert: 'stale' },
    {
      name: 'other_error_db_down',
      flavor: 'classic',
      healthy: classic(),
      mutate: [],
      expect: 'not-this',
      alert: 'other',
      otherAlert: `Traceback (most recent call last):\n  File "worker.py", line 40, in main\n    s.execute(select(User))\nsqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server at "localhost" (127.0.0.1), port 5432 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n`,
    },
    {
      name: 'other_error_on_broken_repo',
      flavor: 'classic',
      healthy: classic(),
      mutate: [BACKPOP],
      expect: 'not-this',
      alert: 'other',
      otherAlert: `sqlalchemy.exc.IntegrityError: (psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "users_email_key"\nDETAIL:  Key (email)=(a@example.com) already exists.\n`,
    },
  ];
}
