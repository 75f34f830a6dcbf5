// Reading SQLAlchemy's words out of alert text: real worker stderr (1.4 and 2.x) in every shape an alert takes
// (plain, JSON log entry, wrapped lines, cascade only), plus hostile and unreadable text.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readSqlalchemyError } from '../../src/actions/sqlalchemy/lib/error-text.js';
import { alertText } from '../fixtures/sqlalchemy/generate.js';
import { cleanupServices, isSkip, pythonFor, scenarios, service, type PythonEnv } from './helpers.js';

after(() => cleanupServices());

const CAUSE_FOR: Record<string, string> = {
  missing_class: 'missing_name',
  not_imported: 'missing_name',
  backpop_missing: 'no_property',
  fk_table_string: 'table_attribute',
  fk_unknown_attr: 'unknown_column',
};

for (const line of ['1.4', '2.x'] as const) {
  describe(`real worker output, SQLAlchemy ${line}`, () => {
    // 2.x: the scenarios whose wording or shape differs (the 1.4 run covers every scenario)
    const on2 = ['typed_missing_class', 'backpop_wrong_name', 'fk_bad_attr', 'two_missing_classes', 'fk_table_string'];
    for (const s of scenarios().filter((x) => x.expect.broken && x.alert !== 'hostile' && x.alert !== 'garbage' && (line === '1.4' || on2.includes(x.name)))) {
      const py = pythonFor(s, line);
      test(`${s.name} (${s.alert ?? 'plain'})`, { skip: isSkip(py) ? py.skip : false }, () => {
        const svc = service(s, py as PythonEnv);
        const text = alertText(svc);
        const r = readSqlalchemyError(text);
        assert.equal(r.readable, true, text);
        assert.equal(r.mapper?.class, s.expect.mapper, text);
        assert.equal(r.version, line === '1.4' ? '1.4' : '2.x');
        assert.equal(r.cause?.kind, CAUSE_FOR[s.expect.problems![0]!], text);
        if (s.expect.problems![0] === 'missing_class') assert.ok(['FeatureFlag', 'School'].includes(r.cause!.name!), text);
        if (s.name === 'hidden_problem_a_to_b') assert.equal(r.cause?.expression, 'FeatureFlag.id', 'order_by="FeatureFlag.id" fails first');
        if (s.alert === 'cascade-only' || s.alert === 'wrapped') assert.equal(r.form, 'cascade');
        else if (s.alert === 'json') assert.equal(r.form, 'first_use', 'the first log entry is the first-use error');
        else assert.ok(r.form === 'both' || r.form === 'cascade', `form ${r.form}`);
        assert.equal(r.refused, 0);
      });
    }
  });
}

describe('alert text shapes', () => {
  test('1.4 and 2.x wordings of the same cascade', () => {
    const v14 = readSqlalchemyError(
      "sqlalchemy.exc.InvalidRequestError: One or more mappers failed to initialize - can't proceed with initialization of other mappers. Triggering mapper: 'mapped class Organization->organizations'. Original exception was: When initializing mapper mapped class Organization->organizations, expression 'FeatureFlag' failed to locate a name ('FeatureFlag').",
    );
    const v2 = readSqlalchemyError(
      "sqlalchemy.exc.InvalidRequestError: One or more mappers failed to initialize - can't proceed with initialization of other mappers. Triggering mapper: 'Mapper[Organization(organizations)]'. Original exception was: When initializing mapper Mapper[Organization(organizations)], expression 'FeatureFlag' failed to locate a name ('FeatureFlag').",
    );
    for (const [r, v] of [[v14, '1.4'], [v2, '2.x']] as const) {
      assert.deepEqual(r.mapper, { class: 'Organization', table: 'organizations', wording: v });
      assert.deepEqual(r.cause, { kind: 'missing_name', name: 'FeatureFlag', expression: 'FeatureFlag' });
      assert.equal(r.form, 'both');
    }
  });

  test('the seed example wrapped over lines, and a traceback', () => {
    const seed = `sqlalchemy.exc.InvalidRequestError: One or more mappers failed to initialize -
can't proceed with initialization of other mappers. Triggering mapper:
'Mapper[Organization(organizations)]'. Original exception was: When initializing
mapper Mapper[Organization(organizations)], expression 'FeatureFlag' failed to
locate a name ('FeatureFlag').`;
    const r = readSqlalchemyError(seed);
    assert.equal(r.mapper?.class, 'Organization');
    assert.equal(r.cause?.name, 'FeatureFlag');
    const tb = `Traceback (most recent call last):
  File "/app/worker.py", line 12, in main
    configure_mappers()
  File "/usr/lib/python3/dist-packages/sqlalchemy/orm/mapper.py", line 3357, in configure_mappers
    _configure_registries(_all_registries(), cascade=True)
sqlalchemy.exc.InvalidRequestError: Mapper 'mapped class User->users' has no property 'org'`;
    const t = readSqlalchemyError(tb);
    assert.equal(t.readable, true);
    assert.equal(t.mapper, null, 'the first-use has-no-property form names the target, not the failing mapper');
    assert.deepEqual(t.cause, { kind: 'no_property', owner: 'User', attr: 'org' });
  });

  test('a JSON log entry with the message inside (escaped newlines), and one entry per line', () => {
    const entry = JSON.stringify({
      severity: 'ERROR',
      jsonPayload: { message: "worker failed:\nTraceback ...\nsqlalchemy.exc.InvalidRequestError: One or more mappers failed to initialize - can't proceed with initialization of other mappers. Triggering mapper: 'Mapper[Team(teams)]'. Original exception was: 'Table' object has no attribute 'org_id'" },
    });
    const r = readSqlalchemyError(entry);
    assert.equal(r.mapper?.class, 'Team');
    assert.deepEqual(r.cause, { kind: 'table_attribute', attr: 'org_id' });
    const lines = `${JSON.stringify({ severity: 'INFO', message: 'starting' })}\n${entry}\n`;
    assert.equal(readSqlalchemyError(lines).mapper?.class, 'Team');
  });

  test('a first-use AttributeError names no mapper: readable, the repo will tell which', () => {
    const r = readSqlalchemyError("builtins.AttributeError: Class <class 'app.models.user.User'> does not have a mapped column named 'org_id'");
    assert.equal(r.readable, true);
    assert.equal(r.mapper, null);
    assert.deepEqual(r.cause, { kind: 'unknown_column', owner: 'User', attr: 'org_id' });
  });

  test('hostile text: traversal and shell characters are never taken as names', () => {
    const r = readSqlalchemyError(
      "Triggering mapper: 'Mapper[Organization(../../../../etc/passwd)]' One or more mappers failed to initialize - x. Triggering mapper: 'Mapper[../../x(y)]'. Original exception was: When initializing mapper Mapper[Organization(organizations)], expression '$(touch /tmp/x)' failed to locate a name ('`rm -rf ~`; echo')",
    );
    assert.equal(r.mapper?.class, 'Organization');
    assert.equal(r.cause?.kind, 'missing_name');
    assert.equal(r.cause?.name, undefined);
    assert.equal(r.cause?.expression, undefined);
    assert.ok(r.refused >= 2);
    for (const v of JSON.stringify(r).match(/"[^"]*"/g) ?? []) assert.doesNotMatch(v, /\.\.\/|\$\(|`/);
  });

  test('text without SQLAlchemy words, empty text and a huge text', () => {
    assert.equal(readSqlalchemyError('Disk usage high on /var/lib ../../etc/shadow $(reboot)').readable, false);
    assert.equal(readSqlalchemyError('').readable, false);
    assert.equal(readSqlalchemyError('{"not": "json').readable, false);
    const huge = 'x'.repeat(2_000_000) + "Mapper 'Mapper[User(users)]' has no property 'org'";
    const t0 = Date.now();
    const r = readSqlalchemyError(huge);
    assert.equal(r.readable, false, 'text past the read limit is not read');
    assert.ok(Date.now() - t0 < 2000);
  });
});
