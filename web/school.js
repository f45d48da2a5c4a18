//! Which school this page signs into: the one the address names (`/s/<code>/`), else the one
//! chosen before on this browser, else the user picks it from the server's list when there
//! are several (`GET /api/schools`).

const SCHOOL_KEY = 'konsult.school';

/// The school code in the address, when the page is served under `/s/<code>/`.
export function schoolFromPath() {
  const match = location.pathname.match(/^\/s\/([a-z0-9-]{1,32})(\/|$)/i);
  return match ? match[1].toLowerCase() : null;
}

/// The school this page signs into, when it is known without asking.
export function currentSchool() {
  return schoolFromPath() ?? localStorage.getItem(SCHOOL_KEY);
}

/// Remembers the school chosen at sign-in for the next visit.
export function rememberSchool(code) {
  if (code) localStorage.setItem(SCHOOL_KEY, code);
}

/// The server's schools as `[{code, name}]`; empty when they cannot be had.
export async function listSchools() {
  try {
    const res = await fetch('/api/schools');
    return res.ok ? await res.json() : [];
  } catch {
    return [];
  }
}

/// `?school=<code>` for public calls that need it, or nothing when the school is not known.
export function schoolQuery() {
  const code = currentSchool();
  return code ? `?school=${encodeURIComponent(code)}` : '';
}
