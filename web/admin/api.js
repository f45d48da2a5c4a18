//! The admin screens' calls to the HTTP API (docs/protocol.md, "HTTP"): the admin's token, kept
//! for the browser tab in sessionStorage, and the words for a call that failed.

import { t } from '../i18n.js';

const TOKEN_KEY = 'konsult.admin.token';
const SELF_KEY = 'konsult.admin.login';

let token = sessionStorage.getItem(TOKEN_KEY);
// The signed-in admin's own login: their own account offers no deactivation.
let self = sessionStorage.getItem(SELF_KEY);
let expired = () => {};

export function signedIn() {
  return Boolean(token);
}

export function ownLogin() {
  return self;
}

/// Keeps the token of an admin who signed in.
export function remember(newToken, login) {
  token = newToken;
  self = login;
  sessionStorage.setItem(TOKEN_KEY, newToken);
  sessionStorage.setItem(SELF_KEY, login);
}

/// Ends the token on the server too (`POST /api/logout`), so that a copy of it stops working,
/// then forgets it here.
export function logout() {
  if (token) {
    fetch('/api/logout', { method: 'POST', headers: { Authorization: `Bearer ${token}` }, keepalive: true })
      .catch(() => {});
  }
  forget();
}

export function forget() {
  token = null;
  self = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(SELF_KEY);
}

/// What happens when the server no longer takes the token: the page leads back to sign-in,
/// saying why.
export function whenExpired(handler) {
  expired = handler;
}

export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/// Calls the HTTP API with the admin's token. A string body is sent as CSV, anything else as JSON.
export async function api(method, path, body, { accept } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (accept) headers.Accept = accept;
  let payload;
  if (typeof body === 'string') {
    headers['Content-Type'] = 'text/csv; charset=utf-8';
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch {
    throw new ApiFailure(0, 'unavailable', t('admin.network'));
  }
  if (!response.ok) {
    let data = {};
    try { data = await response.json(); } catch { /* not JSON */ }
    if (response.status === 401 && path !== '/api/login') {
      expired(t('admin.expired'));
    }
    throw new ApiFailure(response.status, data.code ?? 'internal', data.message ?? response.statusText);
  }
  return accept === 'text/csv' ? response.blob() : response.json();
}

/// Calls the HTTP API with a CSV `body` and reads the answer as it comes, one JSON value a line
/// (`application/x-ndjson`), handing each to `onLine`. Fails as `api` does when the server
/// refuses the call before answering.
export async function apiLines(method, path, body, onLine) {
  const headers = { 'Content-Type': 'text/csv; charset=utf-8' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch {
    throw new ApiFailure(0, 'unavailable', t('admin.network'));
  }
  if (!response.ok) {
    let data = {};
    try { data = await response.json(); } catch { /* not JSON */ }
    if (response.status === 401) expired(t('admin.expired'));
    throw new ApiFailure(response.status, data.code ?? 'internal', data.message ?? response.statusText);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch {
      throw new ApiFailure(0, 'unavailable', t('admin.network'));
    }
    if (chunk.done) break;
    const lines = (rest + chunk.value).split('\n');
    rest = lines.pop();
    for (const line of lines) if (line.trim()) onLine(JSON.parse(line));
  }
  if (rest.trim()) onLine(JSON.parse(rest));
}

/// The words for a failed call, for an error line or the status line.
export function failure(error) {
  if (error.code === 'forbidden') return t('admin.forbidden');
  return t('admin.failed', { message: error.message });
}
