// A node:test reporter that writes every skipped test (file, name, reason) as JSON, so scripts/run-tests.mjs can
// fail the run when a test skipped because something it needs (Python/SQLAlchemy, PostgreSQL, Chromium) is missing.
export default async function* skipReporter(source) {
  const skips = [];
  for await (const ev of source) {
    if ((ev.type === 'test:pass' || ev.type === 'test:fail') && ev.data.skip !== undefined && ev.data.skip !== false) {
      skips.push({ file: ev.data.file ?? '', name: ev.data.name, reason: typeof ev.data.skip === 'string' ? ev.data.skip : '' });
    }
  }
  yield JSON.stringify(skips);
}
