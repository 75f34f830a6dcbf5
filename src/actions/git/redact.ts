/** A repo URL without credentials (user:token@host → host), for outputs and logs. */
export function redactUrl(repo: string): string {
  try {
    const u = new URL(repo);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString();
  } catch {
    return repo; // a local path
  }
}
